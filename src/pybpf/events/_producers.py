"""Small BPF programs that produce (or consume) events, built with the pybpf DSL.

They drive the event-stream tests and ``bench/ringbuf.py`` and double as
examples of ``bpf_loop`` callbacks (``ld_func`` + a subprogram after the main
program's ``exit``). Nothing here is needed to *read* events.

* :func:`ringbuf_producer` — ``BPF_PROG_TYPE_SYSCALL`` (5.14+): writes records
  ``seq, seq+1, ...`` with ``bpf_ringbuf_output`` (or reserve + submit/discard),
  retrying while the ring is full, so nothing is ever lost;
* :func:`perf_producer` — ``BPF_PROG_TYPE_RAW_TRACEPOINT`` (test-run 5.10+, which
  can pick the CPU): ``bpf_perf_event_output`` of ``(seq, cpu)`` records;
* :func:`user_ringbuf_drainer` — ``BPF_PROG_TYPE_SYSCALL``: ``bpf_user_ringbuf_drain``
  (6.1+) counting and summing the first u64 of every sample into an array map;
* :func:`printk_program` — ``bpf_trace_printk`` of a fixed message plus an integer.

Context layout of the test-run programs (``struct.pack("<QQQ", start, count, nr_loops)``):
``start`` is the first sequence number, ``count`` how many records to produce,
``nr_loops`` the ``bpf_loop`` iteration budget of this run (at most ``1 << 23``;
failed attempts on a full ring use iterations too). The return value is the
number of records produced in this run.
"""

from __future__ import annotations

import struct
from typing import Any

from .. import asm
from .._sys.consts import ProgFlags, ProgramType
from ..asm import DW, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, W
from ..prog import Program

__all__ = ["ringbuf_producer", "perf_producer", "user_ringbuf_drainer", "printk_program", "producer_ctx",
           "run_producer", "MAX_LOOPS"]

MAX_LOOPS = 1 << 23  # bpf_loop's limit per call (BPF_MAX_LOOPS)
_RB_NO_WAKEUP, _RB_FORCE_WAKEUP = 1, 2


def _btf_with_callbacks(names: list[str]) -> bytes:
    """BTF declaring ``long main(void *ctx)`` (global) and static ``long <name>(long, void *)`` callbacks.

    The verifier insists on func_info with *static* linkage for ``ld_func`` targets.
    """
    strings = bytearray(b"\0")

    def s(text: str) -> int:
        off = len(strings)
        strings.extend(text.encode() + b"\0")
        return off

    long_, arg_i, arg_c = s("long"), s("i"), s("ctx")
    types = [
        struct.pack("<IIII", long_, 1 << 24, 8, (1 << 24) | 64),  # [1] INT long (signed, 64 bits)
        struct.pack("<III", 0, 2 << 24, 0),  # [2] PTR -> void
        struct.pack("<III", 0, (13 << 24) | 1, 1) + struct.pack("<II", arg_c, 2),  # [3] long (void *ctx)
        struct.pack("<III", s("prog"), (12 << 24) | 1, 3),  # [4] FUNC prog, global
        struct.pack("<III", 0, (13 << 24) | 2, 1) + struct.pack("<IIII", arg_i, 1, arg_c, 2),  # [5] long (long, void *)
    ]
    for n in names:
        types.append(struct.pack("<III", s(n), 12 << 24, 5))  # FUNC <n>, static
    tb = b"".join(types)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(tb), len(tb), len(strings))
    return hdr + tb + bytes(strings)


def _load(ptype: ProgramType, a: asm.Builder, callbacks: list[str], name: str, flags: int = 0) -> Program:
    """Load ``a``'s program with BTF func_info for the main program and its callback subprograms."""
    insns = a.build()
    starts: dict[str, int] = {}
    pc = 0
    for ins in insns:
        if ins.label in callbacks:
            starts[ins.label] = pc
        pc += 2 if ins.opcode == 0x18 else 1
    info = struct.pack("<II", 0, 4) + b"".join(struct.pack("<II", starts[n], 6 + i) for i, n in enumerate(callbacks))
    return Program.load(ptype, insns, flags=flags, name=name, btf=_btf_with_callbacks(callbacks),
                        func_info=info, func_info_rec_size=8)


def producer_ctx(start: int, count: int, nr_loops: int = MAX_LOOPS) -> bytes:
    """The test-run context for the producers: ``start``, ``count``, ``nr_loops`` (u64 each)."""
    return struct.pack("<QQQ", start, count, min(nr_loops, MAX_LOOPS))


def _round8(n: int) -> int:
    return (n + 7) & ~7


def ringbuf_producer(ringbuf: Any, record_size: int = 16, *, reserve: bool = False, discard_every: int = 0,
                     wakeup: str = "adaptive") -> Program:
    """A syscall program writing ``count`` records ``<u64 seq><zeros>`` of ``record_size`` bytes.

    ``reserve=True`` uses ``bpf_ringbuf_reserve`` + ``submit``; with ``discard_every=k``
    every record whose ``seq % k == k - 1`` is reserved and then *discarded*
    (it still counts as produced and consumes ring space, but readers must skip it).
    ``wakeup``: ``"adaptive"`` (flags 0), ``"none"`` (BPF_RB_NO_WAKEUP) or ``"force"``.
    """
    if not 8 <= record_size <= 256:
        raise ValueError("record_size must be 8..256 bytes")
    flags = {"adaptive": 0, "none": _RB_NO_WAKEUP, "force": _RB_FORCE_WAKEUP}[wakeup]
    rs = _round8(record_size)
    base = -(16 + rs)  # ctx struct on the main frame's stack: seq, end, record[rs]
    a = asm.Builder()
    a.mov(R6, R1)
    a.ldx(DW, R7, R6, 0).ldx(DW, R8, R6, 8).ldx(DW, R9, R6, 16)
    a.stx(DW, R10, base, R7)
    a.add(R8, R7).stx(DW, R10, base + 8, R8)
    for off in range(0, rs, 8):
        a.st(DW, R10, base + 16 + off, 0)
    a.mov(R1, R9).ld_func(R2, "cb").mov(R3, R10).add(R3, base).mov(R4, 0)
    a.call(asm.HelperID.loop)
    a.ldx(DW, R0, R10, base).sub(R0, R7)
    a.exit_()
    # callback(index, ctx): returns 1 (stop) when seq reached end, else 0
    a.label("cb").mov(R6, R2)
    a.ldx(DW, R7, R6, 0).ldx(DW, R2, R6, 8)
    a.jge(R7, R2, "stop")
    if not reserve:
        a.stx(DW, R6, 16, R7)
        a.ld_map_fd(R1, ringbuf.fd).mov(R2, R6).add(R2, 16).mov(R3, record_size).mov(R4, flags)
        a.call(asm.HelperID.ringbuf_output)
        a.jne(R0, 0, "retry")
    else:
        a.ld_map_fd(R1, ringbuf.fd).mov(R2, record_size).mov(R3, 0)
        a.call(asm.HelperID.ringbuf_reserve)
        a.jeq(R0, 0, "retry")
        a.stx(DW, R0, 0, R7)
        a.mov(R1, R0).mov(R2, flags)
        if discard_every:
            a.mov(R3, R7).mod(R3, discard_every).jne(R3, discard_every - 1, "submit")
            a.call(asm.HelperID.ringbuf_discard).ja("next")
            a.label("submit")
        a.call(asm.HelperID.ringbuf_submit)
    a.label("next").add(R7, 1).stx(DW, R6, 0, R7)
    a.label("retry").mov(R0, 0).exit_()
    a.label("stop").mov(R0, 1).exit_()
    return _load(ProgramType.SYSCALL, a, ["cb"], "pybpf_rb_prod", ProgFlags.SLEEPABLE)


def perf_producer(perf_map: Any, record_size: int = 16) -> Program:
    """A raw_tracepoint program: ``bpf_perf_event_output(ctx, map, BPF_F_CURRENT_CPU, rec)``.

    Records are ``<u64 seq><u32 cpu><zeros>`` (``record_size`` >= 16). Run it with
    ``test_run(ctx=producer_ctx(...), flags=RUN_ON_CPU, cpu=n)`` to pick the CPU.
    Unlike the ring buffer producer it does *not* retry: failed outputs (a full
    ring; the kernel counts them as lost) are skipped. Returns the number of
    records the kernel accepted.
    """
    if not 16 <= record_size <= 256:
        raise ValueError("record_size must be 16..256 bytes")
    rs = _round8(record_size)
    base = -(32 + rs)  # struct at fp+base: [0] prog ctx, [8] seq, [16] end, [24] ok, [32] record[rs]
    a = asm.Builder()
    a.mov(R6, R1)
    a.ldx(DW, R7, R6, 0).ldx(DW, R8, R6, 8).ldx(DW, R9, R6, 16)
    a.stx(DW, R10, base, R6)  # the callback needs the program context for perf_event_output
    a.stx(DW, R10, base + 8, R7)
    a.add(R8, R7).stx(DW, R10, base + 16, R8)
    a.st(DW, R10, base + 24, 0)
    for off in range(0, rs, 8):
        a.st(DW, R10, base + 32 + off, 0)
    a.call(asm.HelperID.get_smp_processor_id).stx(W, R10, base + 40, R0)
    a.mov(R1, R9).ld_func(R2, "cb").mov(R3, R10).add(R3, base).mov(R4, 0)
    a.call(asm.HelperID.loop)
    a.ldx(DW, R0, R10, base + 24)
    a.exit_()
    a.label("cb").mov(R6, R2)
    a.ldx(DW, R7, R6, 8).ldx(DW, R2, R6, 16)
    a.jge(R7, R2, "stop")
    a.stx(DW, R6, 32, R7)
    a.ldx(DW, R1, R6, 0)
    a.ld_map_fd(R2, perf_map.fd).ld_imm64(R3, 0xFFFFFFFF).mov(R4, R6).add(R4, 32).mov(R5, record_size)
    a.call(asm.HelperID.perf_event_output)
    a.jne(R0, 0, "next")
    a.ldx(DW, R1, R6, 24).add(R1, 1).stx(DW, R6, 24, R1)
    a.label("next").add(R7, 1).stx(DW, R6, 8, R7)
    a.mov(R0, 0).exit_()
    a.label("stop").mov(R0, 1).exit_()
    return _load(ProgramType.RAW_TRACEPOINT, a, ["cb"], "pybpf_pb_prod")


def user_ringbuf_drainer(user_ringbuf: Any, counts: Any) -> Program:
    """A syscall program draining ``user_ringbuf`` (``bpf_user_ringbuf_drain``, 6.1+).

    For every sample it adds 1 to ``counts[0]`` and the sample's first u64 to
    ``counts[1]`` (``counts``: an 8-byte-value ARRAY map with >= 2 entries).
    Returns what ``bpf_user_ringbuf_drain`` returned (samples drained or -errno).
    """
    a = asm.Builder()
    # ctx struct on the stack at fp-16: [0] count, [8] sum; scratch u64 at fp-24
    a.st(DW, R10, -16, 0).st(DW, R10, -8, 0)
    a.ld_map_fd(R1, user_ringbuf.fd).ld_func(R2, "cb").mov(R3, R10).add(R3, -16).mov(R4, 0)
    a.call(asm.HelperID.user_ringbuf_drain)
    a.mov(R6, R0)
    for idx, off in ((0, -16), (1, -8)):
        a.st(W, R10, -24, idx)
        a.ld_map_fd(R1, counts.fd).mov(R2, R10).add(R2, -24)
        a.call(asm.HelperID.map_lookup_elem)
        a.jeq(R0, 0, f"skip{idx}")
        a.ldx(DW, R1, R10, off).atomic_add(DW, R0, 0, R1)
        a.label(f"skip{idx}").mov(R0, 0)
    a.mov(R0, R6).exit_()
    # callback(dynptr, ctx)
    a.label("cb").mov(R6, R2)
    a.ldx(DW, R7, R6, 0).add(R7, 1).stx(DW, R6, 0, R7)
    a.st(DW, R10, -8, 0)
    a.mov(R3, R1).mov(R1, R10).add(R1, -8).mov(R2, 8).mov(R4, 0).mov(R5, 0)
    a.call(asm.HelperID.dynptr_read)
    a.ldx(DW, R1, R10, -8).ldx(DW, R2, R6, 8).add(R2, R1).stx(DW, R6, 8, R2)
    a.mov(R0, 0).exit_()
    return _load(ProgramType.SYSCALL, a, ["cb"], "pybpf_urb_drain", ProgFlags.SLEEPABLE)


def printk_program(message: str) -> Program:
    """A syscall program calling ``bpf_trace_printk(message + " %d\\n", ctx->start)``."""
    fmt = (message + " %d\n").encode() + b"\0"
    size = _round8(len(fmt))
    if size > 256:
        raise ValueError("message too long")
    buf = fmt.ljust(size, b"\0")
    a = asm.Builder()
    a.ldx(DW, R6, R1, 0)
    for off in range(0, size, 8):
        a.ld_imm64(R1, int.from_bytes(buf[off:off + 8], "little")).stx(DW, R10, -size + off, R1)
    a.mov(R1, R10).add(R1, -size).mov(R2, len(fmt)).mov(R3, R6)
    a.call(asm.HelperID.trace_printk)
    a.exit_()
    return Program.load(ProgramType.SYSCALL, a.build(), flags=ProgFlags.SLEEPABLE, name="pybpf_printk")


def run_producer(prog: Program, start: int, count: int, **test_run_kw: Any) -> int:
    """Run ``prog`` until ``count`` records starting at ``start`` were produced; returns ``count``.

    Only for producers that retry (:func:`ringbuf_producer`); each test run is
    limited to ``MAX_LOOPS`` iterations, so this loops while the ring is full.
    """
    done = 0
    while done < count:
        r = prog.test_run(ctx=producer_ctx(start + done, count - done), **test_run_kw)
        done += r.retval
    return done
