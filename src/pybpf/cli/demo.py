"""``pybpf demo``: a live tour on the running kernel.

Part one assembles a socket filter with the DSL (accept DNS, drop the rest, count
both in an array map with an atomic add), loads it, runs it on crafted packets with
BPF_PROG_TEST_RUN, and shows what the kernel sees: map contents, program info in
bpftool's format, and the translated instructions.

Part two compiles and runs a BCC-style tool (:mod:`pybpf.bcc`) on this machine: C in
BCC's dialect — ``TRACEPOINT_PROBE(syscalls, sys_enter_execve)`` counting execve()
per uid in a ``BPF_HASH`` and sending (pid, uid, comm, file) events through
``BPF_PERF_OUTPUT`` — compiled by whichever compiler :func:`pybpf.compile.find_compiler`
picks (the ``ziglang`` wheel when there is no system clang), against a vmlinux.h
generated from the kernel's BTF. It reports the compiler, the time the first compile
took (later runs load the object from the cache), runs ``/bin/true`` a few times as
two users, and prints the events and the per-uid counts.
"""

from __future__ import annotations

import os
import struct
import time

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

from .. import MapType, ProgramType, asm, features
from ..asm import R0, R1, R2, R6, R7, R10
from ..map import Map
from ..prog import Program
from ._common import Context


def packet(dport: int, proto: int = 17) -> bytes:
    """An Ethernet/IPv4/UDP (or TCP) packet to ``dport``."""
    eth = b"\xff" * 6 + b"\x02\0\0\0\0\x01" + struct.pack("!H", 0x0800)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 36, 0, 0, 64, proto, 0, b"\x7f\0\0\x01", b"\x7f\0\0\x01")
    l4 = struct.pack("!HHHH", 40000, dport, 16, 0) + b"question"
    return eth + ip + l4


def dns_counter(counts: Map) -> list[asm.Instruction]:
    """Accept IPv4/UDP to port 53 (verdict 1 = keep), drop the rest (0); count verdicts in ``counts``."""
    b = asm.Builder()
    b.mov(R6, R1).mov(R7, 0)
    b.ldx(asm.W, R0, R1, 16).jne(R0, 0x0008, "count")       # skb->protocol != htons(ETH_P_IP)
    b.ld_abs(asm.B, 9).jne(R0, 17, "count")                  # ip->protocol != IPPROTO_UDP
    b.ld_abs(asm.H, 22).jne(R0, 53, "count")                 # udp->dest != 53
    b.mov(R7, 1)
    b.label("count")
    b.stx(asm.W, R10, -4, R7)                                # key = verdict
    b.mov(R2, R10).add(R2, -4)
    b.ld_map_fd(R1, counts.fd)
    b.call(asm.HelperID.map_lookup_elem)
    b.jeq(R0, 0, "out")
    b.mov(R1, 1)
    b.atomic_add(asm.DW, R0, 0, R1)                          # __sync_fetch_and_add(value, 1)
    b.label("out")
    b.mov(R0, R7).mul(R0, -1)                                # keep: whole packet (0xffffffff), drop: 0
    b.exit_()
    return b.build()


def run(ctx: Context, args: list[str]) -> int:  # noqa: ARG001
    with Map.create(MapType.ARRAY, 4, 8, 2, name="verdicts") as counts:  # fails first without privileges
        print(f"pybpf demo on Linux {os.uname().release}")
        insns = dns_counter(counts)
        print(f"\n1. assembled a {len(insns)}-instruction socket filter with the DSL:")
        print("   " + asm.disassemble(insns, style="llvm").rstrip().replace("\n", "\n   "))
        with Program.load(ProgramType.SOCKET_FILTER, insns, name="dns_counter", log_level=4) as prog:
            st = prog.verifier_stats
            print(f"\n2. loaded: id {prog.id}, tag {prog.tag} (local tag {prog.local_tag()})"
                  + (f", verifier processed {st.processed_insns} insns" if st else ""))
            print("\n3. BPF_PROG_TEST_RUN on crafted packets:")
            for name, pkt, n in (("DNS query (udp/53)", packet(53), 30), ("HTTP (tcp/80)", packet(80, 6), 12),
                                 ("NTP (udp/123)", packet(123), 8)):
                r = prog.test_run(pkt, repeat=n)
                print(f"   {name:<20} x{n:<3} -> retval {r.retval:#x} ({'keep' if r.retval else 'drop'}),"
                      f" {r.duration_ns} ns/run")
            drop, keep = (int.from_bytes(counts[i], "little") for i in (0, 1))
            print(f"\n4. the map counted in the kernel: keep={keep} drop={drop}")
            i = prog.info()
            print("\n5. the kernel's view (as `bpftool prog show`):")
            print(f"   {i.id}: {i.type.name.lower()}  name {i.name}  tag {i.tag}"  # type: ignore[union-attr]
                  + ("  gpl" if i.gpl_compatible else ""))
            print(f"   \tloaded_at {i.loaded_at.strftime('%Y-%m-%dT%H:%M:%S%z')}  uid {i.created_by_uid}")
            print(f"   \txlated {i.xlated_prog_len}B  jited {i.jited_prog_len}B  memlock {i.memlock}B"
                  f"  map_ids {','.join(map(str, i.map_ids))}")
            print("\n6. translated by the verifier (as `bpftool prog dump xlated`):")
            print("   " + prog.dump_xlated().rstrip().replace("\n", "\n   "))
    usable = [f for f in features.probe_all() if f.supported]
    print(f"\n7. feature probes: {len(usable)} program/map types and features usable here "
          "(`pybpf feature probe` lists them)")
    bcc_tool()
    return 0


# ---------------------------------------------------------------- part two: a BCC-style tool
BCC_TOOL = r"""
struct event_t {
    u32 pid;
    u32 uid;
    char comm[16];
    char file[32];
};

BPF_HASH(execs_by_uid, u32, u64);
BPF_PERF_OUTPUT(events);

TRACEPOINT_PROBE(syscalls, sys_enter_execve) {
    struct event_t e = {};
    e.pid = bpf_get_current_pid_tgid() >> 32;
    e.uid = bpf_get_current_uid_gid();
    bpf_get_current_comm(&e.comm, sizeof(e.comm));
    bpf_probe_read_user_str(&e.file, sizeof(e.file), args->filename);
    execs_by_uid.increment(e.uid);
    events.perf_submit(args, &e, sizeof(e));
    return 0;
}
"""

EXEC_AS = ((0, 3), (65534, 2))  # (uid, times): root and nobody


def _out(msg: str) -> None:
    print(msg, flush=True)


def _describe(cc: Any) -> str:
    if cc.kind == "zig" and cc.origin == "ziglang":
        return f"zig cc from the ziglang wheel ({cc.version})"
    how = {"PATH": "found on PATH", "PYBPF_CC": "from $PYBPF_CC"}.get(cc.origin, cc.origin)
    return f"{' '.join(cc.argv)} ({cc.version}; {how})"


def _entries() -> set[str]:
    from ..compile import store

    try:
        return set(os.listdir(os.path.join(store.compile_dir(), "obj")))
    except OSError:
        return set()


class _Progress:
    """Shows pybpf.compile's progress notices (sent to its logger after ~1 s of work) while active."""

    def __init__(self, show: Callable[[str], None]) -> None:
        import logging

        self.logger = logging.getLogger("pybpf.compile")
        show_ = show

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                show_(f"   ... {record.getMessage()}")

        self.handler = Handler(logging.INFO)
        self.level = self.logger.level

    def __enter__(self) -> "_Progress":
        self.logger.addHandler(self.handler)
        if self.logger.getEffectiveLevel() > 20:
            self.logger.setLevel(20)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)


def bcc_tool() -> None:
    """Part two: compile, load and run a BCC-style execve tracer; print what it saw."""
    import shutil
    import subprocess

    from ..bcc import BPF
    from ..compile import find_compiler, store, vmlinux

    _out("\n8. a BCC-style tool, compiled on this machine (pybpf.bcc: BCC's C dialect and Python API):")
    _out("   TRACEPOINT_PROBE(syscalls, sys_enter_execve) counts execve() per uid in a BPF_HASH and")
    _out("   sends (pid, uid, comm, file) events through BPF_PERF_OUTPUT")
    cc = find_compiler()
    _out(f"   compiler: {_describe(cc)}")
    with _Progress(_out):
        vdir = os.path.join(vmlinux.header_dir(), "vmlinux.h")
        if not os.path.isfile(vdir):
            _out("   generating vmlinux.h from the kernel's BTF (once per kernel)...")
            t = time.monotonic()
            vmlinux.ensure_header(progress=lambda m: _out(f"   ... {m}"))
            _out(f"   vmlinux.h generated in {time.monotonic() - t:.2f} s (cached for this kernel)")
        before = _entries()
        _out(f"   building it: BCC C -> libbpf-style C -> {cc.kind} (unless cached in {store.compile_dir()})"
             " -> load -> attach...")
        t = time.monotonic()
        b = BPF(text=BCC_TOOL)
    took = time.monotonic() - t
    with b:
        if _entries() - before or not store.enabled():
            _out(f"   compiled, loaded and attached in {took:.2f} s: the first compile"
                 + ("; the next run loads the object from the cache" if store.enabled() else " (cache disabled)"))
        else:
            _out(f"   loaded from the compile cache and attached in {took:.2f} s (an earlier run compiled it)")
        events: list[Any] = []

        def got(cpu: int, data: Any, size: int) -> None:  # noqa: ARG001
            e = b["events"].event(data)
            events.append((e.pid, e.uid, e.comm.decode("utf-8", "replace"), e.file.decode("utf-8", "replace")))

        b["events"].open_perf_buffer(got)
        true = "/bin/true" if os.path.exists("/bin/true") else (shutil.which("true") or "true")
        plan = ", ".join(f"{n} times as uid {u}" for u, n in EXEC_AS)
        _out(f"   attached to tracepoint syscalls:sys_enter_execve; running {true} {plan}")
        pids: list[int] = []
        for uid, n in EXEC_AS:
            for _ in range(n):
                p = subprocess.Popen([true], user=uid, group=uid, extra_groups=[] if uid else None)
                p.wait()
                pids.append(p.pid)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not set(pids) <= {e[0] for e in events}:
            b.perf_buffer_poll(100)
        order = {pid: i for i, pid in enumerate(pids)}
        mine = sorted((e for e in events if e[0] in order), key=lambda e: order[e[0]])
        others = len(events) - len(mine)
        _out(f"   events from the perf buffer for those execs ({len(mine)} of {len(pids)}"
             + (f"; {others} more from other processes" if others else "") + "):")
        for pid, uid, comm, file in mine:
            _out(f"     pid {pid:<7} uid {uid:<6} comm {comm:<16} file {file}")
        counts = {k.value: v.value for k, v in b["execs_by_uid"].items()}
        shown = ", ".join(f"uid {u}: {c}" for u, c in sorted(counts.items()))
        _out(f"   execve() per uid in the BPF_HASH (every process on the system while attached): {shown}")
    _out("   detached and unloaded")
