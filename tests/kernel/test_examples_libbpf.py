"""The libbpf-style *Learning eBPF* examples (examples/chN_*.py) run on the real kernel.

Every runner that can run here is imported and its ``main(argv)`` called with test
options (or, for the Ctrl-C/SIGTERM and "events as execs happen" checks, run as a
script); its output is checked: the XDP counter grows, execve events carry the right
pid/uid/message, each verifier variant is rejected with the expected message, every
runnable attach type fires, pings are dropped while a program is attached and answered
after. Variants this kernel cannot run (kprobe, fentry/fexit, lsm) must fail with a
NotSupportedError message naming what is missing.

Network examples run only in namespaces created here (or by the runner itself, which
deletes them); the autouse leak check covers programs, maps, links and fds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import pybpf
from pybpf.compile import toolchain, vmlinux
from pybpf.links import kprobe as kprobe_mod
from pybpf.links import net
import example_script
from netns import VethPair, netns_names, ns, veth  # noqa: F401  (fixtures)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import _common  # noqa: E402
import ch3_hello_xdp  # noqa: E402
import ch5_hello_buffer_config  # noqa: E402
import ch6_hello_verifier  # noqa: E402
import ch7_attach_tour  # noqa: E402
import ch8_tc_drop  # noqa: E402
import ch8_xdp_ping_drop  # noqa: E402

RUNNERS = [ch3_hello_xdp, ch5_hello_buffer_config, ch6_hello_verifier, ch7_attach_tour, ch8_xdp_ping_drop,
           ch8_tc_drop]

pytestmark = [
    pytest.mark.skipif(toolchain.zig_path() is None and shutil.which("clang") is None,
                       reason="no BPF C compiler (pip install ziglang)"),
    pytest.mark.skipif(not os.path.exists(vmlinux.VMLINUX_BTF), reason="kernel without BTF"),
]


def _example_leftovers() -> tuple[set[str], set[str]]:
    """Namespaces and tracefs instances the runners create in this process (named after its pid;
    other test sessions may run the same examples at the same time)."""
    from pybpf._sys.fs import find_tracefs

    pid = os.getpid()
    inst = os.path.join(find_tracefs(), "instances")
    names = os.listdir(inst) if os.path.isdir(inst) else []
    ours = {n for n in names if n.startswith("pybpf-example-") and n.endswith(f"-{pid}")}
    return {n for n in netns_names() if n.startswith(f"pybpf-ex-{pid}-")}, ours


@pytest.fixture(autouse=True)
def _runner_cleanup():
    before = _example_leftovers()
    yield
    after = _example_leftovers()
    assert after[0] <= before[0], f"network namespaces left behind: {after[0] - before[0]}"
    assert after[1] <= before[1], f"tracefs instances left behind: {after[1] - before[1]}"


def _run(module, argv, capsys) -> tuple[int, str, str]:
    rc = module.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


class Script(example_script.Script):
    def __init__(self, name: str, *args: str) -> None:
        super().__init__(EXAMPLES / name, *args)


# ===================================================================== common
@pytest.mark.parametrize("module", RUNNERS, ids=lambda m: m.__name__)
def test_not_root_is_one_line(module, monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    rc, out, err = _run(module, ["--seconds", "1"], capsys)
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and "must run as root" in err and "Traceback" not in err
    assert f"sudo python3 examples/{module.__name__}.py" in err


def test_readme_lists_every_runner_with_a_valid_command():
    text = (EXAMPLES / "README.md").read_text()
    runners = sorted(p.stem for p in EXAMPLES.glob("ch*_*.py"))
    assert runners == sorted(m.__name__ for m in RUNNERS)
    for name in runners:
        assert f"sudo python3 examples/{name}.py" in text, name
    for path in re.findall(r"`(ch\d/[\w.-]+\.bpf\.c)`", text):
        assert (EXAMPLES / path).is_file(), path
    for src in EXAMPLES.glob("ch*/*.bpf.c"):
        assert f"`{src.parent.name}/{src.name}`" in text, src
    # every command line in the table parses with the runner's own argparse (options as documented)
    for name, args in re.findall(r"`sudo python3 examples/(ch\w+)\.py([^`]*)`", text):
        plain = re.sub(r"\[|\]|\\\|", " ", args).split()
        argv, i = [], 0
        while i < len(plain):
            tok = plain[i]
            if tok.startswith("--") and i + 1 < len(plain) and not plain[i + 1].startswith("-"):
                val = plain[i + 1]
                sample = {"N": "1", "LINES": "5", "UID": "501", "UID=MSG": "501=hi", "NAME": None,
                          "NS": "x", "DEV": "lo", "lo": "lo"}.get(val, val.split("|")[0])
                if sample is None:
                    sample = {"ch6_hello_verifier": "NO_NULL_CHECK", "ch7_attach_tour": "xdp"}[name]
                argv += [tok, sample]
                i += 2
                continue
            if tok.startswith("-"):
                argv.append(tok)
            i += 1
        module = sys.modules[name]
        module.parse(argv)  # SystemExit (test failure) on an undocumented option


# ===================================================================== chapter 3
def _counters(out: str) -> list[int]:
    return [int(n) for n in re.findall(r"^counter = (\d+)$", out, re.M)]


def test_ch3_hello_counter_grows(ns, capsys):
    rc, out, err = _run(ch3_hello_xdp, ["--netns", ns, "--traffic", "--seconds", "2"], capsys)
    assert rc == 0, err
    assert f"attached to lo in netns {ns}" in out
    counts = _counters(out)
    assert len(counts) == 2 and 0 < counts[0] < counts[1], out
    final = int(re.search(r"^final counter = (\d+)$", out, re.M).group(1))
    assert final >= counts[1]
    assert re.search(r"trace: .*Hello World \d+$", out, re.M), out
    assert net.xdp_info("lo", netns=ns).prog_id == 0  # detached


def test_ch3_hello_func_has_a_bpf_to_bpf_call(ns, capsys):
    rc, out, err = _run(ch3_hello_xdp, ["--netns", ns, "--func", "--dump", "--traffic", "--seconds", "1"],
                        capsys)
    assert rc == 0, err
    assert re.search(r"call pc[+-]\d+#bpf_prog_[0-9a-f]+_get_protocol", out), out
    assert re.search(r"Hello World \d+, IP protocol 17$", out, re.M), out  # the UDP datagrams
    assert _counters(out)[-1] > 0


def test_ch3_sigterm_detaches_and_cleans_up(ns):
    s = Script("ch3_hello_xdp.py", "--netns", ns, "--traffic")
    s.wait_for(r"^attached to lo")
    assert net.xdp_info("lo", netns=ns).prog_id != 0
    s.wait_for(r"^counter = [1-9]")
    rc, out, err = s.stop(signal.SIGTERM)
    assert rc == 130, (out, err)
    assert out.endswith("ch3_hello_xdp: interrupted, detached and cleaned up") and "Traceback" not in err
    assert net.xdp_info("lo", netns=ns).prog_id == 0


def test_ch3_bad_netns_is_one_line(capsys):
    rc, out, err = _run(ch3_hello_xdp, ["--netns", "pybpf-no-such-ns", "--seconds", "1"], capsys)
    assert rc == 2 and "no network namespace 'pybpf-no-such-ns'" in err and err.count("\n") == 1


# ===================================================================== chapter 5
_EVENT = re.compile(r"^(\d+)\s+(\d+)\s+(\d+)\s+(.{1,16}?)\s+(.{1,12}?)\s+(/\S+)$")


def _events(out: str) -> dict[int, tuple[int, int, str, str, str]]:
    """pid -> (ppid, uid, command, message, path) for every event line."""
    evs = {}
    for line in out.splitlines():
        m = _EVENT.match(line)
        if m:
            evs[int(m.group(1))] = (int(m.group(2)), int(m.group(3)), m.group(4), m.group(5), m.group(6))
    return evs


@pytest.mark.parametrize("buffer", ["perfbuf", "ringbuf"])
def test_ch5_tracepoint_events_have_pid_uid_message(buffer, capsys):
    argv = ["--seconds", "2.5", "--trigger", "--trigger-as", "501"] + (["--ringbuf"] if buffer == "ringbuf" else [])
    rc, out, err = _run(ch5_hello_buffer_config, argv, capsys)
    assert rc == 0, err
    assert 'verified hello (SEC("ksyscall/execve"), KPROBE)' in out  # the kprobe version passes the verifier
    assert 'verified hello_tp (SEC("tp/syscalls/sys_enter_execve"), TRACEPOINT)' in out
    assert f"({'ring' if buffer == 'ringbuf' else 'perf'} buffer)" in out
    triggered = [int(p) for p in re.findall(r"^\(triggered: pid (\d+) runs \S+ as uid 501\)$", out, re.M)]
    assert len(triggered) >= 2, out
    evs = _events(out)
    for pid in triggered:
        assert pid in evs, f"no event for pid {pid}:\n{out}"
        ppid, uid, comm, message, path = evs[pid]
        assert (ppid, uid, message) == (os.getpid(), 501, "Hi user 501!"), evs[pid]
        assert path.endswith("/true") and comm


def test_ch5_script_reports_execs_as_they_happen():
    """Run as a script; exec programs from here (as uid 501 and as root) and stop it with Ctrl-C."""
    s = Script("ch5_hello_buffer_config.py", "--ringbuf", "--config", "501=Hi user 501!", "--config", "0=Hey root!")
    s.wait_for(r"^PID\s+PPID\s+UID")
    true = shutil.which("true") or "/bin/true"
    p501 = subprocess.Popen([true], user=501)
    p501.wait()
    proot = subprocess.Popen([true])
    proot.wait()
    s.wait_for(rf"^{proot.pid}\s")
    rc, out, err = s.stop(signal.SIGINT)
    assert rc == 130 and "Traceback" not in err, (out, err)
    evs = _events(out)
    assert evs[p501.pid][:2] == (os.getpid(), 501) and evs[p501.pid][3] == "Hi user 501!"
    assert evs[proot.pid][:2] == (os.getpid(), 0) and evs[proot.pid][3] == "Hey root!"
    assert evs[proot.pid][4].endswith("/true")


def test_ch5_default_greeting_for_unconfigured_uid(capsys):
    rc, out, err = _run(ch5_hello_buffer_config, ["--seconds", "1.5", "--trigger", "--trigger-as", "502",
                                                  "--config", "501=Hi user 501!"], capsys)
    assert rc == 0, err
    pids = [int(p) for p in re.findall(r"^\(triggered: pid (\d+)", out, re.M)]
    evs = _events(out)
    assert pids and all(evs[p][1] == 502 and evs[p][3] == "Hello World" for p in pids), out


def test_ch5_verify_only(capsys):
    rc, out, err = _run(ch5_hello_buffer_config, ["--verify"], capsys)
    assert rc == 0, err
    assert re.search(r'verified hello \(SEC\("ksyscall/execve"\), KPROBE\): \d+ instructions processed', out)
    assert re.search(r"verified hello_tp .*: \d+ instructions processed", out)
    assert "attached" not in out


def test_ch5_kprobe_variant_names_missing_kprobes(capsys):
    ok, why = kprobe_mod.kprobes_available()
    if ok:
        pytest.skip("this kernel has kprobes: the kprobe variant attaches")
    rc, out, err = _run(ch5_hello_buffer_config, ["--kprobe", "--seconds", "1"], capsys)
    assert rc == 1, (out, err)
    assert 'verified hello (SEC("ksyscall/execve"), KPROBE)' in out
    line = next(ln for ln in out.splitlines() if ln.startswith("cannot attach hello"))
    assert "kprobes not supported by this kernel" in line and "CONFIG_KPROBES is not set" in line
    assert "Traceback" not in out + err


def test_ch5_rejects_too_long_message(capsys):
    with pytest.raises(SystemExit):
        ch5_hello_buffer_config.main(["--config", "501=Hello user 501!!"])
    assert "longer than 12 bytes" in capsys.readouterr().err


# ===================================================================== chapter 6
_SUMMARIES = {
    "NO_NULL_CHECK": r"R\d+ invalid mem access 'map_value_or_null'",
    "OUT_OF_BOUNDS": r"R\d+ (min|max) value is outside of the allowed memory range",
    "GLOBAL_OOB": r"R\d+ (min|max) value is outside of the allowed memory range",
    "NO_PACKET_CHECK": r"R\d+ offset is outside of the packet",
    "NO_RETURN_VALUE": r"R0 !read_ok",
    "INFINITE_LOOP": r"infinite loop detected at insn \d+",
    "WRONG_HELPER": r"program of this type cannot use helper bpf_override_return#58",
    "NOT_GPL": r"cannot call GPL-restricted function from non-GPL compatible program",
    "UNRELEASED_REF": r"(BPF_EXIT instruction in main prog would lead to reference leak|Unreleased reference id=\d+.*)",
    "CTX_WRITE": r"invalid bpf_context access off=0 size=4",
}


def _sections(out: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"^== (\w+): .*\n((?:   .*\n?)*)", out, re.M)}


def test_ch6_every_variant_rejected_with_its_message(capsys):
    assert set(_SUMMARIES) == set(ch6_hello_verifier.VARIANTS)
    rc, out, err = _run(ch6_hello_verifier, [], capsys)
    assert rc == 0, out + err
    secs = _sections(out)
    assert re.search(r"loaded: program id \d+, \d+ instructions processed", secs["NONE"])
    for name, pattern in _SUMMARIES.items():
        m = re.search(r"rejected \((E\w+)\): (.*)", secs[name])
        assert m, f"{name}: {secs[name]}"
        assert re.fullmatch(pattern, m.group(2)), f"{name}: summary {m.group(2)!r}"
    # the two-line errors also show the verifier's reason line
    assert "(reason: invalid access to map value, value_size=12 off=12 size=1)" in secs["OUT_OF_BOUNDS"]
    assert "(reason: invalid access to packet, off=12 size=2" in secs["NO_PACKET_CHECK"]
    assert out.rstrip().endswith("11 variant(s), 0 unexpected result(s)")


def test_ch6_log_tail_and_verifier_error(capsys):
    rc, out, err = _run(ch6_hello_verifier, ["--variant", "NO_PACKET_CHECK", "--log", "4"], capsys)
    assert rc == 0, err
    tail = [ln for ln in out.splitlines() if ln.startswith("   | ")]
    assert len(tail) == 4 and any("invalid access to packet" in ln for ln in tail), out
    # the same through the API: VerifierError carries the summary and the full log
    obj = _common.compile_bpf(ch6_hello_verifier.SRC, {"NO_NULL_CHECK": None})
    with pytest.raises(pybpf.VerifierError) as ei:
        pybpf.load(obj, name="hello_verifier")
    e = ei.value
    assert re.fullmatch(_SUMMARIES["NO_NULL_CHECK"], e.summary) and e.summary in str(e)
    assert "map_value_or_null" in e.tail(3) and e.log.count("\n") > 5


def test_ch6_list_needs_no_root(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    rc, out, _ = _run(ch6_hello_verifier, ["--list"], capsys)
    assert rc == 0 and all(name in out for name in ch6_hello_verifier.VARIANTS)


# ===================================================================== chapter 7
_RUNNABLE = {
    "tracepoint": r"5 getppid\(\) calls by this process",
    "raw_tp": r"\d+ syscalls by this process, last syscall id \d+",
    "tp_btf": r"2 execs by children of this process, last /\S+/true \(comm true\)",
    "uprobe": r"labs\(\) entered 3 times, argument -42",
    "uretprobe": r"labs\(\) returned 3 times, return value 42",
    "perf_event": r"\d+ CPU-clock samples \(1000 Hz, every CPU\) hit this process",
    "iter": rf"\d+ tasks listed; this process: {os.getpid()} {os.getpid()} \S+",
    "xdp": r"\d+ packets through XDP on lo",
    "tc": r"\d+ packets through tc \(clsact ingress\) on lo",
    "tcx": r"\d+ packets through tcx ingress on lo",
}


def _stops(out: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\w+)\s+SEC\(.*\n    (.*)$", out, re.M)}


def test_ch7_attach_tour(ns, capsys):
    rc, out, err = _run(ch7_attach_tour, ["--netns", ns], capsys)
    assert rc == 0, out + err
    stops = _stops(out)
    assert set(stops) == set(ch7_attach_tour.NAMES)
    for name, pattern in _RUNNABLE.items():
        assert re.fullmatch(r"ok: " + pattern, stops[name]), f"{name}: {stops[name]}"
    kp_ok, why = kprobe_mod.kprobes_available()
    for name in ("kprobe", "kretprobe"):
        if kp_ok:
            assert stops[name].startswith("ok: "), stops[name]
        else:
            assert stops[name].startswith("SKIP (needs kprobes (CONFIG_KPROBES)): NotSupportedError: kprobes not "
                                          "supported by this kernel: " + why), stops[name]
    for name in ("fentry", "fexit", "lsm"):
        if stops[name].startswith("ok: "):
            continue  # a kernel with trampolines
        assert "NotSupportedError: loading " in stops[name], stops[name]
        assert ("TRACE_FENTRY" if name == "fentry" else "TRACE_FEXIT" if name == "fexit" else "LSM_MAC") \
            in stops[name] and "EPERM" in stops[name]
        assert "BPF trampolines" in stops[name] or "BPF LSM" in stops[name]
    assert net.xdp_info("lo", netns=ns).prog_id == 0 and not net.tc_filters("lo", netns=ns)


def test_ch7_fentry_and_lsm_raise_not_supported():
    """Straight through the API: what the tour prints for fentry/lsm is pybpf's NotSupportedError."""
    spec = pybpf.open(_common.compile_bpf(ch7_attach_tour.SRC), name="attach_tour")
    for prog, kind in (("on_fentry", "TRACE_FENTRY"), ("on_lsm", "LSM_MAC")):
        one = spec.copy()
        for name, p in one.programs.items():
            p.autoload = name == prog
        try:
            obj = one.load()
        except pybpf.NotSupportedError as e:
            assert e.feature == f"loading {kind} programs" and "EPERM" in str(e)
            continue
        with obj:  # a kernel with BPF trampolines
            obj.programs[prog].attach().close()


def test_ch7_own_netns_is_created_and_deleted(capsys):
    before = netns_names()
    rc, out, err = _run(ch7_attach_tour, ["--only", "xdp", "--only", "tcx"], capsys)
    assert rc == 0, out + err
    created = re.search(r"new network namespace (pybpf-ex-[\w-]+);", out).group(1)
    assert created.startswith(f"pybpf-ex-{os.getpid()}-")
    assert created not in before and created not in netns_names()
    assert "2 attach types ran, 0 skipped" in out


# ===================================================================== chapter 8
def _phases(out: str) -> dict[str, str]:
    return {m.group(1).strip(): m.group(2) for m in re.finditer(r"^  (before attaching|while attached\s*|after "
                                                                r"detaching\s*): ping \S+ from \S+: (\d+/\d+)",
                                                                out, re.M)}


@pytest.mark.parametrize("module,argv,message", [
    (ch8_xdp_ping_drop, [], "Hello ping: dropped"),
    (ch8_xdp_ping_drop, ["--mode", "skb"], "Hello ping: dropped"),
    (ch8_tc_drop, [], "Got ping packet: dropped"),
    (ch8_tc_drop, ["--hook", "tcx"], "Got ping packet: dropped"),
], ids=["xdp", "xdp-skb", "tc", "tcx"])
def test_ch8_demo_drops_then_restores(module, argv, message, capsys):
    rc, out, err = _run(module, ["--pings", "3", *argv], capsys)
    assert rc == 0, out + err
    assert _phases(out) == {"before attaching": "3/3", "while attached": "0/3", "after detaching": "3/3"}, out
    assert re.search(r"packets seen \d+, pings dropped 3$", out, re.M), out
    assert out.count(message) >= 3  # (another run of this demo elsewhere prints the same lines)
    assert "10.200.0.1/30" in out and "10.200.0.2/30" in out
    assert "result: pings were answered, dropped while attached, answered again after detach" in out


@pytest.mark.parametrize("module,argv", [(ch8_xdp_ping_drop, []), (ch8_tc_drop, []),
                                         (ch8_tc_drop, ["--hook", "tcx"])], ids=["xdp", "tc", "tcx"])
def test_ch8_iface_netns_mode(module, argv, veth: VethPair, capsys):
    """--iface/--netns on a veth pair created here: pings dropped while it runs, answered after."""
    assert _common.ping(veth.ip_b, netns=veth.ns_a, count=1)[0] is not None
    result: dict[str, int] = {}
    t = threading.Thread(target=lambda: result.setdefault(
        "rc", module.main(["--iface", veth.dev_b, "--netns", veth.ns_b, "--seconds", "2.5", *argv])))
    t.start()
    try:
        deadline = time.monotonic() + 30
        while not _attached(module, argv, veth) and time.monotonic() < deadline and t.is_alive():
            time.sleep(0.02)
        assert _attached(module, argv, veth), "the runner did not attach"
        during = _common.ping(veth.ip_b, netns=veth.ns_a, count=2, timeout=0.3)
    finally:
        t.join(60)
    out, err = capsys.readouterr()
    assert result.get("rc") == 0, out + err
    assert during == [None, None], out
    assert re.search(r"pings dropped [2-9]", out), out
    assert f"detached from {veth.dev_b} in netns {veth.ns_b}" in out
    assert not _attached(module, argv, veth)
    assert _common.ping(veth.ip_b, netns=veth.ns_a, count=1)[0] is not None


def _attached(module, argv, veth: VethPair) -> bool:
    if module is ch8_xdp_ping_drop:
        return net.xdp_info(veth.dev_b, netns=veth.ns_b).prog_id != 0
    if "tcx" in argv:
        return bool(net.tcx_query(veth.dev_b, "ingress", netns=veth.ns_b).prog_ids)
    return bool(net.tc_filters(veth.dev_b, "ingress", netns=veth.ns_b))


def test_ch8_usage_errors_are_one_line(capsys):
    rc, out, err = _run(ch8_tc_drop, ["--netns", "whatever"], capsys)
    assert rc == 2 and "--netns names the namespace of --iface" in err and err.count("\n") == 1
    rc, out, err = _run(ch8_xdp_ping_drop, ["--iface", "no-such-dev0", "--seconds", "1"], capsys)
    assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err
