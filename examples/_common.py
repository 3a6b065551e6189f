"""Shared plumbing for the *Learning eBPF* example runners (not an example itself).

Every runner is ``main(argv) -> int`` and uses:

* :func:`run` — root check, SIGTERM turned into Ctrl-C, pybpf errors printed as one
  line (no traceback), exit status;
* :func:`compile_bpf` — ``pybpf.compile`` on a ``.bpf.c`` file next to the runner;
* :func:`ticks` — "every second until --seconds run out or Ctrl-C";
* :func:`printk_lines` — ``bpf_printk`` output through a private tracefs instance, so
  the runner does not steal lines from other ``trace_pipe`` readers (it still sees the
  ``bpf_printk`` lines of every program on the system, not only its own);
* network helpers for the XDP/tc examples: :func:`netns` / :func:`veth_pair` create
  namespaces with ``ip`` (addresses only inside them) and delete them on exit;
  :func:`in_netns` moves the calling thread into one; :func:`ping` and
  :func:`udp_poke` make traffic from inside one (pure Python: no ping binary needed).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

HERE = Path(__file__).resolve().parent

try:  # an installed pybpf, else the one in this checkout (src layout)
    import pybpf  # noqa: F401
except ImportError:  # pragma: no cover - depends on how the examples are run
    sys.path.insert(0, str(HERE.parent / "src"))
    import pybpf  # noqa: F401

from pybpf.errors import Error  # noqa: E402


# ------------------------------------------------------------------ running
class Usage(Exception):
    """A problem with the command line or the environment: printed as one line, exit 2."""


def run(prog: str, needs: str, body: Callable[[], int]) -> int:
    """Run ``body`` as root with one-line errors; SIGTERM behaves like Ctrl-C.

    ``needs`` is the kernel facility/capability sentence shown when not root.
    """
    if os.geteuid() != 0:
        print(f"{prog}: must run as root ({needs}); try: sudo python3 examples/{prog}.py", file=sys.stderr)
        return 1
    old = None
    try:
        old = signal.signal(signal.SIGTERM, _sigterm)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted, detached and cleaned up")
        return 130
    except Usage as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except (Error, OSError, subprocess.SubprocessError) as e:
        print(f"{prog}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _sigterm(signum: int, frame: Any) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


def compile_bpf(name: str, defines: dict[str, object] | None = None) -> bytes:
    """Compile ``examples/<name>`` (a ``.bpf.c`` path relative to this directory)."""
    from pybpf.compile import compile

    path = HERE / name
    return compile(path, defines=defines or None)


def ticks(seconds: float | None, interval: float = 1.0) -> Iterator[int]:
    """Yield 1, 2, ... once per ``interval`` until ``seconds`` have passed (None: forever)."""
    start = time.monotonic()
    n = 0
    while True:
        n += 1
        target = start + n * interval
        if seconds is not None:
            target = min(target, start + seconds)
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield n
        if seconds is not None and time.monotonic() - start >= seconds - 1e-3:
            return


@contextlib.contextmanager
def printk_lines(tag: str) -> Iterator[Any]:
    """A reader of ``bpf_printk`` lines (``.read_available()`` -> TraceLine list) from a
    private tracefs instance named after ``tag``; removed on exit."""
    from pybpf.events import TraceInstance

    inst = TraceInstance(f"pybpf-example-{tag}-{os.getpid()}")
    try:
        yield inst.pipe()
    finally:
        inst.close()


# ------------------------------------------------------------------ netns
def sh(*args: str) -> str:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise Usage(f"`{' '.join(args)}` failed: {r.stderr.strip() or r.returncode}")
    return r.stdout


def ip(*args: str, netns: str | None = None) -> str:
    return sh("ip", *(["-n", netns] if netns else []), *args)


def netns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


@contextlib.contextmanager
def netns(prefix: str = "pybpf-ex-") -> Iterator[str]:
    """A new network namespace ``<prefix><our pid>-<random>`` with ``lo`` up, deleted on exit."""
    name = f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:6]}"
    ip("netns", "add", name)
    try:
        ip("link", "set", "lo", "up", netns=name)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@dataclasses.dataclass
class Veth:
    """``ns_a``/``dev_a``/``ip_a`` <-> ``ns_b``/``dev_b``/``ip_b`` (a /30 inside the namespaces)."""

    ns_a: str
    ns_b: str
    dev_a: str
    dev_b: str
    ip_a: str
    ip_b: str


@contextlib.contextmanager
def veth_pair(subnet: str | None = None) -> Iterator[Veth]:
    """Two new namespaces joined by a veth pair, addresses 10.200.X.1/30 and .2/30 set
    only inside them (nothing changes in the caller's namespace); all deleted on exit."""
    x = random.randrange(256) if subnet is None else None
    base = subnet or f"10.200.{x}.0"
    prefix = base.rsplit(".", 1)[0]
    last = int(base.rsplit(".", 1)[1])
    with netns() as a, netns() as b:
        p = Veth(a, b, "veth-a", "veth-b", f"{prefix}.{last + 1}", f"{prefix}.{last + 2}")
        ip("link", "add", p.dev_a, "type", "veth", "peer", "name", p.dev_b, "netns", b, netns=a)
        for ns, dev, addr in ((a, p.dev_a, p.ip_a), (b, p.dev_b, p.ip_b)):
            ip("addr", "add", f"{addr}/30", "dev", dev, netns=ns)
            ip("link", "set", dev, "up", netns=ns)
        yield p


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Run the block with the calling thread in namespace ``name`` (None: stay put).
    Sockets created inside stay in that namespace."""
    if not name:
        yield
        return
    path = name if "/" in name else f"/run/netns/{name}"
    if not os.path.exists(path):
        raise Usage(f"no network namespace {name!r} (see `ip netns list`)")
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(orig)
    finally:
        os.close(orig)


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping(dst: str, *, netns: str | None = None, count: int = 1, timeout: float = 0.5,
         interval: float = 0.05) -> list[float | None]:
    """Send ``count`` ICMP echo requests to ``dst`` from namespace ``netns``; per request the
    round-trip time in seconds or None if no reply came within ``timeout``."""
    with in_netns(netns):
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = random.randrange(1, 0xFFFF)
    out: list[float | None] = []
    with s:
        for seq in range(1, count + 1):
            payload = b"pybpf-example" + struct.pack("!d", time.time())
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            pkt = struct.pack("!BBHHH", 8, 0, _csum(hdr + payload), ident, seq) + payload
            t0 = time.monotonic()
            s.sendto(pkt, (dst, 0))
            rtt = None
            while (left := t0 + timeout - time.monotonic()) > 0:
                s.settimeout(left)
                try:
                    data, _addr = s.recvfrom(2048)
                except socket.timeout:
                    break
                ihl = (data[0] & 0xF) * 4
                typ, _code, _ck, rid, rseq = struct.unpack_from("!BBHHH", data, ihl)
                if typ == 0 and rid == ident and rseq == seq:
                    rtt = time.monotonic() - t0
                    break
            out.append(rtt)
            if seq != count:
                time.sleep(interval)
    return out


def udp_poke(dst: str = "127.0.0.1", *, netns: str | None = None, count: int = 1, port: int = 9) -> None:
    """Send ``count`` small UDP datagrams to ``dst:port`` (discard) from namespace ``netns``."""
    with in_netns(netns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        for _ in range(count):
            try:
                s.sendto(b"hello from pybpf", (dst, port))
            except OSError:
                pass  # ICMP port unreachable from an earlier datagram: fine, the packet was sent


def print_lines(lines: Sequence[Any], indent: str = "  ") -> None:
    for ln in lines:
        msg = getattr(ln, "message", ln)
        task = getattr(ln, "task", "")
        pid = getattr(ln, "pid", -1)
        print(f"{indent}trace: {task}-{pid}: {msg}" if pid >= 0 else f"{indent}trace: {msg}")
