"""The BCC-style *Learning eBPF* examples (examples/bcc/*.py) run on the real kernel.

Every example that can run here is run — as a script (``python3 examples/bcc/x.py``,
stdout read line by line while the test makes execve()/chmod()/timer/ping traffic) or
in-process through its ``main(argv)`` — and its output checked: events carry the pid,
uid and message of the execs this test makes as uid 501 (``Popen(user=501)``: the
pid of the child is the pid of the execve), the per-uid counter counts them, the
tail-call handlers print for our exec and our timer syscalls, the XDP program
reports our pings. The kprobe and LSM versions must fail with pybpf's
NotSupportedError naming what is missing and what to use instead.

trace_pipe is shared by everything on the machine (another reader may take a line),
so checks on bpf_trace_printk lines make traffic again until the line shows up.
Network traffic happens only in namespaces the test or the example creates; the
autouse leak check covers programs, maps, links and fds, and a fixture here checks
that no namespace is left behind.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from pybpf import links
from pybpf.bcc import BPF
from pybpf.compile import toolchain, vmlinux
from pybpf.links import net
import example_script
from netns import netns_names, ns  # noqa: F401  (fixture)

BCC = Path(__file__).resolve().parents[2] / "examples" / "bcc"
sys.path.insert(0, str(BCC))

UID = 501  # the book's "Hi user 501!"

pytestmark = [
    pytest.mark.skipif(toolchain.zig_path() is None and shutil.which("clang") is None,
                       reason="no BPF C compiler (pip install ziglang)"),
    pytest.mark.skipif(not os.path.exists(vmlinux.VMLINUX_BTF), reason="kernel without BTF"),
]

EXAMPLES = ["hello.py", "hello_tp.py", "hello-map.py", "hello-buffer.py", "hello-tail.py", "hello-buffer-config.py",
            "hello-ring-buffer-config.py", "ping.py", "hello-lsm.py", "hello-lsm_tp.py"]


def load(name: str):
    """The example module ``examples/bcc/<name>`` (names have dashes: loaded by path)."""
    mod_name = "bcc_example_" + re.sub(r"\W", "_", name[:-3])
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, BCC / name)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = mod
    spec.loader.exec_module(mod)
    return mod


def _leftovers() -> tuple[set[str], set[str]]:
    """Namespaces and tracefs instances made by examples run in this process (named after its pid)."""
    from pybpf._sys.fs import find_tracefs

    pid = os.getpid()
    inst = os.path.join(find_tracefs(), "instances")
    names = os.listdir(inst) if os.path.isdir(inst) else []
    return ({n for n in netns_names() if n.startswith(f"pybpf-ex-{pid}-")},
            {n for n in names if n.startswith("pybpf-bcc-") and n.endswith(f"-{pid}")})


@pytest.fixture(autouse=True)
def _nothing_left_behind():
    before = _leftovers()
    yield
    after = _leftovers()
    assert after[0] <= before[0], f"network namespaces left behind: {after[0] - before[0]}"
    assert after[1] <= before[1], f"tracefs instances left behind: {after[1] - before[1]}"


def exec_as(uid: int = UID, path: str = "/bin/true") -> int:
    """Run ``path`` as ``uid``; the pid that made the execve() (the child's)."""
    p = subprocess.Popen([path], user=uid, group=uid, extra_groups=[])
    p.wait()
    return p.pid


class Script(example_script.Script):
    def __init__(self, name: str, *args: str) -> None:
        super().__init__(BCC / name, *args)


@pytest.fixture
def script():
    started: list[Script] = []

    def start(name: str, *args: str) -> Script:
        s = Script(name, *args)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.p.poll() is None:
            s.stop(signal.SIGKILL)


# ===================================================================== common
def test_every_example_is_tested_and_documented():
    shipped = sorted(p.name for p in BCC.glob("*.py") if not p.name.startswith("_"))
    assert shipped == sorted(EXAMPLES)
    readme = (BCC.parent / "README.md").read_text()
    for name in EXAMPLES:
        assert f"sudo python3 examples/bcc/{name}" in readme, name
        doc = load(name).__doc__
        assert "Needs:" in doc, f"{name} does not say which kernel facility it needs"
    assert "`bcc/ping.bpf.c`" in readme


def test_readme_commands_parse(monkeypatch, capsys):
    """Every command line in the README's BCC table uses options the example's argparse knows."""
    text = (BCC.parent / "README.md").read_text()
    commands = re.findall(r"`sudo python3 examples/bcc/([\w.-]+\.py)([^`]*)`", text)
    assert {n for n, _ in commands} == set(EXAMPLES)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # main() parses, then stops at the root check
    for name, args in commands:
        plain = re.sub(r"\[|\]|\\\|", " ", args).split()
        argv, i = [], 0
        while i < len(plain):
            tok = plain[i]
            if tok.startswith("--") and i + 1 < len(plain) and not plain[i + 1].startswith("-"):
                val = plain[i + 1]
                argv += [tok, {"N": "1", "S": "1", "UID=MSG": "501=hi", "NS": "x", "DEV": "lo"}.get(
                    val, val.split("|")[0])]
                i += 2
                continue
            if tok.startswith("-"):
                argv.append(tok)
            i += 1
        assert load(name).main(argv) == 1, (name, argv)  # an unknown option is SystemExit: a failure
        assert "must run as root" in capsys.readouterr().err


@pytest.mark.parametrize("name", EXAMPLES)
def test_not_root_is_one_line(name, monkeypatch, capsys):
    mod = load(name)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    rc = mod.main(["--seconds", "1"])
    out, err = capsys.readouterr()
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and "must run as root" in err and "Traceback" not in err
    assert f"sudo python3 examples/bcc/{name}" in err


# ===================================================================== chapter 2
@pytest.mark.skipif(links.kprobes_available()[0], reason="kernel has kprobes")
def test_hello_kprobe_names_missing_kprobes_and_the_tracepoint(capsys):
    rc = load("hello.py").main(["--seconds", "1", "--trace-instance"])
    out, err = capsys.readouterr()
    assert rc == 1 and out == "" and err.count("\n") == 1, (out, err)
    assert err.startswith("hello.py: NotSupportedError: ")
    assert "kprobes are unavailable (CONFIG_KPROBES not set)" in err
    assert re.search(r"cannot attach 'hello' to kprobe '(__x64_|__arm64_)?sys_execve'", err), err
    assert "use the syscall tracepoint syscalls/sys_enter_execve instead" in err
    assert "TRACEPOINT_PROBE(syscalls, sys_enter_execve)" in err
    assert "hello_tp.py" in err


def test_hello_tp_prints_hello_world_for_our_exec(script):
    """The book's way: the shared trace_pipe (or, when another reader has it, a private instance)."""
    s = script("hello_tp.py")
    s.wait_for(r"^Attached to tracepoint syscalls:sys_enter_execve; reading (trace_pipe|tracefs instance "
               r"pybpf-bcc-hello_tp-\d+)\.\.\.")
    m = s.until_seen(exec_as, lambda pid: rf"-{pid}\s+\[\d+\].*: bpf_trace_printk: Hello World! /bin/true$")
    assert m
    rc, out, err = s.stop()
    assert rc == 130 and "interrupted, detached and cleaned up" in out, (rc, err)


def test_busy_trace_pipe_falls_back_to_a_private_instance(monkeypatch, capsys):
    """When trace_pipe is busy (a second open fails with EBUSY on this kernel: another reader has it),
    the default reads a private tracefs instance, says so on stderr, and still sees our lines.
    (The busy file is simulated: holding the real one would break other sessions' readers.)"""
    def busy(self, nonblocking=False):
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), "/sys/kernel/tracing/trace_pipe")

    monkeypatch.setattr(BPF, "trace_open", busy)
    stop = threading.Event()
    pids: list[int] = []

    def traffic():
        time.sleep(0.5)
        while not stop.is_set():
            pids.append(exec_as())
            time.sleep(0.1)

    t = threading.Thread(target=traffic)
    t.start()
    try:
        rc = load("hello_tp.py").main(["--seconds", "2.5"])  # (--count would count others' lines too)
    finally:
        stop.set()
        t.join()
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "hello_tp.py: trace_pipe is busy (another reader has it open): reading bpf_trace_printk lines " \
           "from a private tracefs instance instead" in err
    assert re.search(r"reading tracefs instance pybpf-bcc-hello_tp-\d+\.\.\.", out), out
    got = {int(p) for p in re.findall(r"-(\d+) +\[\d{3}\] .* bpf_trace_printk: Hello World! /bin/true$", out, re.M)}
    assert got & set(pids), out


def test_hello_tp_count_stops_it(capsys):
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            exec_as()
            time.sleep(0.1)

    t = threading.Thread(target=traffic)
    t.start()
    try:
        rc = load("hello_tp.py").main(["--count", "2", "--seconds", "30", "--trace-instance"])
    finally:
        stop.set()
        t.join()
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert len(re.findall(r"bpf_trace_printk: Hello World! ", out)) >= 2, out


def test_hello_map_counts_execs_per_uid(script):
    s = script("hello-map.py", "--interval", "0.5")
    attached = s.wait_for(r"^Attached hello\(\) to (.*); counting execve\(\) per UID")
    if not links.kprobes_available()[0]:
        assert "tracepoint syscalls:sys_enter_execve (this kernel has no kprobes" in attached.group(1)
    for _ in range(3):
        exec_as()
    exec_as(0)
    # one line: "ID 0: <n>\tID 501: <m>" (sorted by UID), m >= 3 (other tests may exec as 501 too)
    s.wait_for(rf"^ID 0: [1-9]\d*\t(.*\t)?ID {UID}: ([3-9]|\d\d+)(\t|$)", timeout=20)
    rc, out, err = s.stop()
    assert rc == 130, err


def test_hello_map_seconds_in_process(capsys):
    rc = load("hello-map.py").main(["--attach", "tracepoint", "--interval", "0.3", "--seconds", "1"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    reports = out.splitlines()[1:]
    assert len(reports) == 4, out  # 0.3, 0.6, 0.9, 1.0


@pytest.mark.skipif(links.kprobes_available()[0], reason="kernel has kprobes")
@pytest.mark.parametrize("name", ["hello-map.py", "hello-buffer.py", "hello-buffer-config.py",
                                  "hello-ring-buffer-config.py"])
def test_attach_kprobe_as_in_the_book_names_missing_kprobes(name, capsys):
    rc = load(name).main(["--attach", "kprobe", "--seconds", "1"])
    out, err = capsys.readouterr()
    assert rc == 1 and out == "" and err.count("\n") == 1, (out, err)
    assert err.startswith(f"{name}: NotSupportedError: ")
    assert "kprobes are unavailable (CONFIG_KPROBES not set)" in err
    assert "TRACEPOINT_PROBE(syscalls, sys_enter_execve)" in err
    assert err.rstrip().endswith("--attach tracepoint runs without kprobes")


def test_hello_buffer_events_have_pid_uid_command_message(script):
    s = script("hello-buffer.py")
    s.wait_for(r"^Attached hello\(\) to .*; events: pid uid command message")
    pid = exec_as()
    m = s.wait_for(rf"^{pid} {UID} (\S+) Hello World$", timeout=20)
    assert m.group(1) == Path(sys.executable).name[:15] or m.group(1).startswith("python"), m.group(0)
    rc, out, err = s.stop()
    assert rc == 130, err


@pytest.mark.parametrize("name", ["hello-buffer-config.py", "hello-ring-buffer-config.py"])
def test_buffer_config_messages_per_uid(name, script):
    s = script(name)
    s.wait_for(r"^Attached hello\(\) to .*; config 0='Hey root!', 501='Hi user 501!'; events")
    pid = exec_as(UID)
    s.wait_for(rf"^{pid} {UID} \S+ Hi user 501!$", timeout=20)
    pid = exec_as(0)
    s.wait_for(rf"^{pid} 0 \S+ Hey root!$", timeout=20)
    pid = exec_as(502)
    s.wait_for(rf"^{pid} 502 \S+ Hello World$", timeout=20)
    rc, out, err = s.stop()
    assert rc == 130 and "interrupted, detached and cleaned up" in out, err


def test_ring_buffer_config_in_process_with_own_config(capsys):
    """In-process (the leak check covers it): --config replaces the messages; --seconds stops it."""
    stop = threading.Event()
    pids: list[int] = []

    def traffic():
        time.sleep(0.5)
        while not stop.is_set():
            pids.append(exec_as(UID))
            time.sleep(0.1)

    t = threading.Thread(target=traffic)
    t.start()
    try:
        rc = load("hello-ring-buffer-config.py").main(["--config", "501=Howdy 501", "--attach", "tracepoint",
                                                       "--seconds", "3"])
    finally:
        stop.set()
        t.join()
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "config 501='Howdy 501'; events (ring buffer)" in out
    got = re.findall(rf"^(\d+) {UID} \S+ (.*)$", out, re.M)
    mine = [msg for pid, msg in got if int(pid) in pids]
    assert mine and set(mine) == {"Howdy 501"}, out


def test_buffer_config_rejects_bad_config(capsys):
    mod = load("hello-buffer-config.py")
    assert mod.main(["--config", "501=this is far too long"]) == 2
    err = capsys.readouterr().err
    assert "at most 12" in err and err.count("\n") == 1
    assert mod.main(["--config", "nobody=hi"]) == 2
    assert "expected UID=MESSAGE" in capsys.readouterr().err


def _timers() -> int:
    code = ("import ctypes; l = ctypes.CDLL(None, use_errno=True); t = ctypes.c_void_p(); "
            "assert l.timer_create(1, None, ctypes.byref(t)) == 0; assert l.timer_delete(t) == 0")
    p = subprocess.Popen([sys.executable, "-c", code])
    assert p.wait() == 0
    return p.pid


def test_hello_tail_handlers_for_exec_and_timers(script):
    s = script("hello-tail.py", "--only-handled", "--trace-instance")
    m = s.wait_for(r"^Attached hello\(\) to raw tracepoint sys_enter; tail calls: execve \((\d+)\) -> hello_exec")
    assert int(m.group(1)) == load("hello-tail.py").syscall_numbers()["execve"]
    s.until_seen(exec_as, lambda pid: rf"-{pid}\s+\[\d+\].*: bpf_trace_printk: Executing a program$")
    # one child process makes both timer syscalls: the lines come in order
    for _ in range(10):
        pid = _timers()
        if s.next_match(rf"-{pid}\s+\[\d+\].*: bpf_trace_printk: Creating a timer$", 2) and \
                s.next_match(rf"-{pid}\s+\[\d+\].*: bpf_trace_printk: Deleting a timer$", 2):
            break
    else:
        rc, out, err = s.stop()
        pytest.fail(f"no timer lines (exit {rc}):\n{out}\n{err}")
    rc, out, err = s.stop()
    assert rc == 130, err
    assert "Another syscall" not in out  # --only-handled: every other slot holds ignore_opcode


def test_hello_tail_without_only_handled_reports_other_syscalls(capsys):
    stop = threading.Event()

    def traffic():
        time.sleep(0.5)
        while not stop.is_set():
            os.umask(os.umask(0o22))  # umask: a syscall no slot handles or ignores
            time.sleep(0.05)

    t = threading.Thread(target=traffic)
    t.start()
    try:
        rc = load("hello-tail.py").main(["--seconds", "2", "--trace-instance"])
    finally:
        stop.set()
        t.join()
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert re.search(r"bpf_trace_printk: Another syscall: \d+$", out, re.M), out[-2000:]


# ===================================================================== chapter 8
def test_ping_demo_reports_pings(capsys):
    rc = load("ping.py").main(["--trace-instance"])
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    m = re.search(r"^created (pybpf-ex-\S+) \(veth-a ([\d.]+)/30\) <-> (pybpf-ex-\S+) \(veth-b ([\d.]+)/30\)$",
                  out, re.M)
    assert m, out
    ns_a, ip_a, ns_b, ip_b = m.groups()
    assert f"while attached : ping {ip_b} from {ns_a}: 3/3 answered" in out
    assert re.search(rf"bpf_trace_printk: Got ping packet {re.escape(ip_a)} > {re.escape(ip_b)} seq [123]$",
                     out, re.M), out
    assert "the program counted 3 ping packets" in out
    assert f"after detaching: ping {ip_b} from {ns_a}: 3/3 answered" in out
    assert f"deleted {ns_a} and {ns_b}" in out
    assert ns_a not in netns_names() and ns_b not in netns_names()


def test_ping_demo_drop(capsys):
    rc = load("ping.py").main(["--drop", "--pings", "2", "--trace-instance"])
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    assert re.search(r"while attached : ping \S+ from \S+: 0/2 answered \(timeout, timeout\)", out), out
    assert "the program counted 2 ping packets" in out
    assert re.search(r"after detaching: ping \S+ from \S+: 2/2 answered", out), out
    assert "result: pings were seen and dropped while attached" in out


def test_ping_iface_mode_in_our_netns(ns, capsys):  # noqa: F811
    import _common

    stop = threading.Event()

    def traffic():
        time.sleep(1.0)
        while not stop.is_set():
            _common.ping("127.0.0.1", netns=ns, count=1, timeout=0.2)
            time.sleep(0.1)

    t = threading.Thread(target=traffic)
    t.start()
    try:
        # no --count: other programs' "Got ping packet" lines (another session's demo) would count too
        rc = load("ping.py").main(["--iface", "lo", "--netns", ns, "--seconds", "3", "--trace-instance"])
    finally:
        stop.set()
        t.join()
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    assert f"Attached ping() to lo in netns {ns}" in out
    assert re.search(r"Got ping packet 127\.0\.0\.1 > 127\.0\.0\.1 seq 1$", out, re.M), out
    seen = re.search(rf"^Detached from lo in netns {ns}; (\d+) ping packets seen$", out, re.M)
    assert seen and int(seen.group(1)) >= 2, out  # the map counts only what crossed our lo
    assert net.xdp_info("lo", netns=ns).prog_id == 0


def test_ping_usage_error_is_one_line(capsys):
    assert load("ping.py").main(["--netns", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give --iface too" in err


# ===================================================================== chapter 9
@pytest.mark.skipif(BPF.support_lsm(), reason="kernel runs BPF LSM programs")
def test_hello_lsm_names_the_missing_facility(capsys):
    rc = load("hello-lsm.py").main(["--seconds", "1", "--trace-instance"])
    out, err = capsys.readouterr()
    assert rc == 1 and out == "" and err.count("\n") == 1, (out, err)
    assert err.startswith("hello-lsm.py: NotSupportedError: ")
    assert "BPF LSM (LSM_PROBE) programs cannot be loaded here" in err
    assert "BPF trampolines" in err or "lsm=" in err or "CONFIG_BPF_LSM" in err, err
    assert "hello-lsm_tp.py" in err


def test_hello_lsm_tp_reports_our_chmod(script):
    s = script("hello-lsm_tp.py", "--trace-instance")
    s.wait_for(r"^Attached to .*syscalls:sys_enter_fchmodat")
    d = tempfile.mkdtemp(prefix="pybpf-chmod-")
    try:
        path = os.path.join(d, "file")
        open(path, "w").close()
        modes = iter([0o640, 0o604, 0o4750, 0o600] * 5)

        def chmod():
            mode = next(modes)
            os.chmod(path, mode)
            return mode

        s.until_seen(chmod, lambda mode: rf"bpf_trace_printk: chmod {re.escape(path)} to mode {mode:04o} \(\w+\)$")
        fd = os.open(path, os.O_RDONLY)
        try:
            s.until_seen(lambda: (os.fchmod(fd, 0o640), fd)[1],
                         lambda fd: rf"bpf_trace_printk: chmod fd {fd} to mode 0640 \(fchmod\)$")
        finally:
            os.close(fd)
    finally:
        shutil.rmtree(d)
    rc, out, err = s.stop()
    assert rc == 130, err
