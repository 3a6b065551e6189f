"""BCC's own tools (tests/data/bcc_tools, unchanged copies: see PROVENANCE) run on pybpf.

Each tool runs as ``python -m pybpf.bcc TOOL ARGS`` — the way a user runs BCC's tools
on a machine without BCC — for a bounded time (interval/count or duration arguments,
or SIGINT once the events showed up) while the test makes the events it reports:
CPU load for the scheduler tools, children that exit with a known status for
exitsnoop, a TCP connection over loopback in a network namespace of the test's own
for tcplife/tcpstates (and, with an XDP program dropping the SYNs, a retransmission
for tcpretrans). The output is checked for the tool's header and for the generated
events. A kprobe-only tool must end with pybpf's one-line NotSupportedError on a
kernel without kprobes (and work on one with them).

Every process is stopped and every namespace removed even when a check fails; the
autouse leak check covers programs, maps and links (the tools' objects go with
their processes).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

import example_script
from netns import in_netns, netns
from pybpf.compile import toolchain, vmlinux

TOOLS = Path(__file__).resolve().parents[1] / "data" / "bcc_tools"

pytestmark = [
    pytest.mark.skipif(toolchain.zig_path() is None, reason="needs the ziglang compiler"),
    pytest.mark.skipif(not os.path.exists(vmlinux.VMLINUX_BTF), reason="kernel without BTF"),
]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    """One compile cache for the session's tool runs (each tool compiles cold once)."""
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "bcc-tools-cache"))


def argv(tool: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "pybpf.bcc", str(TOOLS / tool), *args]


def run(tool: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run a tool that ends by itself (interval/count or duration arguments)."""
    r = subprocess.run(argv(tool, *args), capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert r.returncode == 0, f"{tool} {args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture
def tool() -> Iterator:
    """Start tools as scripts (stdout line by line); all are stopped at teardown."""
    started: list[example_script.Script] = []

    def start(name: str, *args: str) -> example_script.Script:
        s = example_script.Script("-m", "pybpf.bcc", str(TOOLS / name), *args)  # python -m pybpf.bcc TOOL
        started.append(s)
        return s
    yield start
    for s in started:
        if s.p.poll() is None:
            s.p.kill()
            s.p.wait(30)


@contextlib.contextmanager
def busy(n: int = 3) -> Iterator[list[subprocess.Popen]]:
    """``n`` CPU-bound shell loops (more runnable tasks than CPUs), killed on exit."""
    procs = [subprocess.Popen(["sh", "-c", "i=0; while [ $i -lt 1000000000 ]; do i=$((i+1)); done"])
             for _ in range(n)]
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
            p.wait(30)


def histogram_counts(text: str) -> list[int]:
    """The counts of a BCC log2/linear histogram (``lo -> hi : count |***|`` lines)."""
    return [int(m.group(1)) for m in re.finditer(r"^\s*\d+(?:\s*->\s*\d+)?\s*:\s*(\d+)\s*\|", text, re.M)]


# ------------------------------------------------------------------ interval tools
def test_softirqs_and_hardirqs():
    out = run("softirqs.py", "1", "1").stdout
    assert "Tracing soft irq event time" in out and re.search(r"^SOFTIRQ\s+TOTAL_usecs$", out, re.M)
    rows = re.findall(r"^(\w+)\s+(\d+)$", out, re.M)
    known = {"hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched", "hrtimer", "rcu"}
    assert rows and {name for name, _ in rows} <= known  # the timer/RCU/sched softirqs always run
    out = run("hardirqs.py", "1", "1").stdout
    assert re.search(r"^HARDIRQ\s+TOTAL_usecs$", out, re.M)
    assert all(re.fullmatch(r"\S.*\s+\d+", line) for line in out.split("TOTAL_usecs", 1)[1].splitlines() if line)


def test_runqlat_runqlen_cpuunclaimed_under_load():
    with busy():
        out = run("runqlat.py", "1", "1").stdout
        assert re.search(r"usecs\s+: count\s+distribution", out) and sum(histogram_counts(out)) > 0
        out = run("runqlen.py", "1", "1").stdout
        assert re.search(r"runqlen\s+: count\s+distribution", out) and sum(histogram_counts(out)) > 0
        out = run("cpuunclaimed.py", "1", "1").stdout
        m = re.search(r"^%CPU\s+([\d.]+)%, unclaimed idle ([\d.]+)%$", out, re.M)
        # the tool checks its per-CPU samples' timing itself and stops when a (virtual) CPU lags
        assert (m is not None and float(m.group(1)) > 0) or "CPU samples arrived at skewed offsets" in out, out


def test_wqlat():
    out = run("wqlat.py", "1", "1").stdout
    assert "Tracing work queue request latency time" in out and re.search(r"usecs\s+: count\s+distribution", out)


def test_runqslower_reports_delayed_tasks(tool):
    with busy():
        s = tool("runqslower.py", "1")  # every wakeup-to-run delay over 1 us
        s.wait_for(r"^TIME\s+COMM\s+TID\s+LAT\(us\)$", timeout=120)
        s.wait_for(r"^\d\d:\d\d:\d\d \S.*\s+\d+\s+\d+$", timeout=30)
        rc, _, err = s.stop(signal.SIGINT)
    assert rc == 0, err


# ------------------------------------------------------------------ process events
def test_exitsnoop_shows_exit_codes(tool):
    s = tool("exitsnoop.py")
    s.wait_for(r"^PCOMM\s+PID\s+PPID\s+TID\s+AGE\(s\)\s+EXIT_CODE", timeout=120)

    def exit_7() -> int:
        p = subprocess.Popen(["sh", "-c", "exit 7"])
        p.wait()
        return p.pid
    s.until_seen(exit_7, lambda pid: rf"^sh\s+{pid}\s+{os.getpid()}\s+{pid}\s+[\d.]+\s+code 7$")
    rc, _, err = s.stop(signal.SIGINT)
    assert rc == 0, err


def test_funccount_on_a_tracepoint():
    done = threading.Event()

    def children() -> None:
        while not done.is_set():
            subprocess.run(["true"])
            time.sleep(0.05)
    t = threading.Thread(target=children)
    t.start()
    try:
        out = run("funccount.py", "-d", "2", "t:sched:sched_process_exit").stdout
    finally:
        done.set()
        t.join()
    m = re.search(r"^sched:sched_process_exit\s+(\d+)$", out, re.M)
    assert "FUNC" in out and m is not None and int(m.group(1)) > 0, out


def test_syscount_per_process_with_and_without_latency():
    child = subprocess.Popen([sys.executable, "-c", "import os, time\nend = time.time() + 60\n"
                              "while time.time() < end: os.getppid()"])
    try:
        out = run("syscount.py", "-p", str(child.pid), "-d", "2").stdout
        assert re.search(r"^SYSCALL\s+COUNT$", out, re.M)
        m = re.search(r"^getppid\s+(\d+)$", out, re.M)
        assert m is not None and int(m.group(1)) > 0, out
        out = run("syscount.py", "-L", "-p", str(child.pid), "-d", "2").stdout  # the #ifdef LATENCY tables
        assert re.search(r"^SYSCALL\s+COUNT\s+TIME \(us\)$", out, re.M)
        assert re.search(r"^getppid\s+\d+\s+[\d.]+$", out, re.M), out
    finally:
        child.kill()
        child.wait(30)


def test_profile_samples_a_busy_process():
    with busy(1) as (p,):
        out = run("profile.py", "-f", "-p", str(p.pid), "2").stdout
    rows = re.findall(r"^(\S+?);.* (\d+)$", out, re.M)
    assert rows and {comm for comm, _ in rows} == {"sh"}, out  # -p: only our loop's samples


def test_offwaketime_folded_stacks():
    child = subprocess.Popen([sys.executable, "-c", "import time\nfor _ in range(600): time.sleep(0.05)"])
    try:
        out = run("offwaketime.py", "-f", "-p", str(child.pid), "2").stdout
    finally:
        child.kill()
        child.wait(30)
    # target comm;stack;--;waker stack;waker comm  microseconds
    assert re.search(r"^\S+;.*;--;.* \d+$", out, re.M), out


# ------------------------------------------------------------------ TCP
def _connect_and_close(port: int, payload: bytes = b"x" * 3000) -> int:
    """A TCP connection to a listener on 127.0.0.1:``port`` that sends ``payload`` and closes;
    the client's port."""
    with socket.socket() as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", port))
        srv.listen()
        with socket.create_connection(("127.0.0.1", port)) as c:
            conn, _ = srv.accept()
            with conn:
                c.sendall(payload)
                got = b""
                while len(got) < len(payload):
                    got += conn.recv(65536)
            return c.getsockname()[1]


def test_tcplife_and_tcpstates_see_a_connection(tool):
    life = tool("tcplife.py")
    states = tool("tcpstates.py")
    life.wait_for(r"^PID\s+COMM\s+LADDR\s+LPORT\s+RADDR\s+RPORT\s+TX_KB\s+RX_KB\s+MS$", timeout=120)
    states.wait_for(r"^SKADDR\s+C-PID\s+C-COMM\s+LADDR\s+LPORT\s+RADDR\s+RPORT\s+OLDSTATE\s+->\s+NEWSTATE\s+MS$",
                    timeout=120)
    port = 20000 + os.getpid() % 20000
    with netns() as ns:
        def connect() -> int:
            with in_netns(ns):
                return _connect_and_close(port)
        # the client's side: our pid, 127.0.0.1:<client port> -> 127.0.0.1:<port>
        life.until_seen(connect, lambda cport: rf"^{os.getpid()}\s+\S+\s+127\.0\.0\.1\s+{cport}\s+127\.0\.0\.1\s+"
                                                 rf"{port}\s+\d+\s+\d+\s+[\d.]+$")
        states.until_seen(connect, lambda cport: rf"^[0-9a-f]+\s+\d+\s+\S+\s+127\.0\.0\.1\s+{cport}\s+127\.0\.0\.1\s+"
                                                   rf"{port}\s+SYN_SENT\s+->\s+ESTABLISHED\s+[\d.]+$")
    for s in (life, states):
        rc, _, err = s.stop(signal.SIGINT)
        assert rc == 0, err


_DROP_SYN = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
volatile const __u16 port = 0;
SEC("xdp") int drop_syn(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct tcphdr *tcp = (void *)(ip + 1);
    if ((void *)(tcp + 1) > end || eth->h_proto != bpf_htons(0x0800) || ip->protocol != 6)
        return XDP_PASS;
    return tcp->syn && !tcp->ack && tcp->dest == bpf_htons(port) ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_tcpretrans_sees_a_syn_retransmission(tool):
    import pybpf
    from pybpf.compile import compile
    from pybpf.links import net

    s = tool("tcpretrans.py")
    s.wait_for(r"^TIME\s+PID\s+IP\s+LADDR:LPORT\s+T>\s+RADDR:RPORT\s+STATE$", timeout=120)
    port = 20000 + (os.getpid() + 1) % 20000
    spec = pybpf.open(compile(_DROP_SYN))
    spec.rodata.port = port
    with netns() as ns, spec.load() as obj:
        with in_netns(ns):
            link = net.attach_xdp(obj.programs["drop_syn"], "lo", "skb")
        try:
            def connect() -> int:
                with in_netns(ns):
                    c = socket.socket()
                c.settimeout(1.5)  # the first SYN is dropped: the retransmission is 1 s later
                with c:
                    with contextlib.suppress(OSError):
                        c.connect(("127.0.0.1", port))
                    return c.getsockname()[1]
            s.until_seen(connect, lambda cport: rf"^\d\d:\d\d:\d\d\s+\d+\s+4\s+127\.0\.0\.1:{cport}\s+R>\s+"
                                                  rf"127\.0\.0\.1:{port}\s+SYN_SENT$", tries=5, wait=3)
        finally:
            with in_netns(ns):
                link.close()
    rc, _, err = s.stop(signal.SIGINT)
    assert rc == 0, err


# ------------------------------------------------------------------ kprobes
def test_kprobe_tool_without_kprobes_is_a_one_line_error(tool):
    from pybpf.links.kprobe import kprobes_available

    if kprobes_available()[0]:
        s = tool("execsnoop.py")  # kprobes work here: the tool must too
        s.wait_for(r"^PCOMM\s+PID\s+PPID\s+RET\s+ARGS$", timeout=120)
        s.until_seen(lambda: subprocess.run(["true"]).returncode, lambda _: r"^true\s+\d+\s+\d+\s+0\s+/\S*true$")
        rc, _, err = s.stop(signal.SIGINT)
        assert rc == 0, err
        return
    r = subprocess.run(argv("execsnoop.py"), capture_output=True, text=True, timeout=180)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert re.fullmatch(r"execsnoop\.py: NotSupportedError: kprobes not supported by this kernel: .*CONFIG_KPROBES.*"
                        r"syscalls/sys_enter_execve.*", lines[0]), lines[0]
