"""Ring buffer drain throughput: pybpf vs. a libbpf C reference, in one run.

What it measures: records/s drained from a BPF_MAP_TYPE_RINGBUF map while a
producer program fills it, for 64-byte and 16-byte records, by

* pybpf's per-record callback API (``RingBuffer.poll(100)``, callback ``cb(memoryview)``);
* pybpf's batch API (``RingBuffer.poll_batch(cb, 100, record_size=...)``: numpy views of
  fixed-size records; a secondary row shows the list-of-memoryviews batch without numpy);
* the C reference bench/c/ringbuf_ref.c (libbpf ``ring_buffer__new`` + ``ring_buffer__poll(rb, 100)``),
  compiled here with ``cc -O2 ... -lbpf -lpthread`` into bench/_build/.

Both sides are fed by the SAME producer: one BPF_PROG_TYPE_SYSCALL program per
record size (pybpf.events._producers.ringbuf_producer: bpf_loop + bpf_ringbuf_output
of a sequence number, adaptive wakeups, retrying while the ring is full so no
record is lost) writing into the SAME ring buffer map created here. The C program
inherits both fds; each side runs the producer through BPF_PROG_TEST_RUN in a
second thread while its main thread drains, and times from starting the producer
until the last record was consumed. Rates are therefore end-to-end: when the
consumer is faster than the producer the rate is the producer's. C and Python runs
are interleaved (rotating order) and the best of N rounds is kept.
Targets: callback >= 0.25x C, batch >= 0.75x C.

Reading the figures: end to end, a consumer that keeps up is not free for the
producer. libbpf publishes consumer_pos after every record (a cache line the
producer reads on every reserve) and, having caught up, sleeps in epoll so that
nearly every record triggers a wakeup (irq_work) in the producer; the C rate
therefore varies a lot between runs (about 5-15 M/s here). pybpf's loops publish
consumer_pos every ring/16 bytes (and after each batch), which costs the producer
less. The drain-only rows show the other side: per record, C is ~35x cheaper than
a Python callback.

Secondary "[drain only]" rows pre-fill a big ring with the producer, then time only
the consumer draining it (C: ring_buffer__consume loop; pybpf: consume() /
consume_batch()): the consumers' own per-record cost, without the producer.

Run as root:  sudo PYTHONPATH=src python3 bench/ringbuf.py [--quick] [--json] [--check]
Needs gcc and libbpf-dev (apt-get install gcc libbpf-dev); numpy for the batch rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # run from a checkout without installing

import pybpf  # noqa: E402
from _cref import build_libbpf_ref, die, libbpf_version  # noqa: E402
from pybpf.events import RingBuffer  # noqa: E402
from pybpf.events import _producers as producers  # noqa: E402

C_SRC = HERE / "c" / "ringbuf_ref.c"
SIZES = (64, 16)


def build_ref() -> Path:
    """Compile ringbuf_ref.c (cached by source hash) and return the binary path."""
    return build_libbpf_ref(C_SRC, "ringbuf_ref", ("-lpthread",))


PIN: tuple[int, int] | None = None  # (consumer CPU, producer CPU) with --pin


def run_c(ref: Path, ring: pybpf.Map, prog: pybpf.Program, n: int, mode: str = "poll") -> tuple[float, int]:
    pin = [str(c) for c in PIN] if PIN and mode != "drain" else []
    r = subprocess.run([str(ref), str(ring.fd), str(prog.fd), str(n), mode, *pin], pass_fds=(ring.fd, prog.fd),
                       capture_output=True, text=True)
    if r.returncode != 0:
        die(f"C reference failed: {r.stderr.strip()}", 1)
    d = json.loads(r.stdout)
    return d["ns"] / 1e9, int(d["n"])


def run_py(prog: pybpf.Program, n: int, drain) -> tuple[float, int]:
    """Produce n records in a thread; drain with ``drain()`` (returns records consumed) until all arrived."""
    err: list[BaseException] = []

    def produce() -> None:
        try:
            if PIN:
                os.sched_setaffinity(0, {PIN[1]})  # this thread only
            producers.run_producer(prog, 0, n, repeat=0, ctx_out_size=0)
        except BaseException as e:  # pragma: no cover - reported below
            err.append(e)

    t = threading.Thread(target=produce, daemon=True)
    old = os.sched_getaffinity(0)
    if PIN:
        os.sched_setaffinity(0, {PIN[0]})
    try:
        t0 = time.perf_counter_ns()
        t.start()
        got = 0
        while got < n and not err:
            got += drain()
        secs = (time.perf_counter_ns() - t0) / 1e9
        t.join()
    finally:
        os.sched_setaffinity(0, old)
    if err:
        die(f"producer failed: {err[0]}", 1)
    return secs, got


def run_py_drain(prog: pybpf.Program, n: int, drain) -> tuple[float, int]:
    """Produce n records first (they fit in the ring), then time ``drain()`` alone."""
    producers.run_producer(prog, 0, n, repeat=0, ctx_out_size=0)
    t0 = time.perf_counter_ns()
    got = drain()
    return (time.perf_counter_ns() - t0) / 1e9, got


def _nop(_recs: object) -> None:
    return None


def measure(ref: Path, ring: pybpf.Map, n: int, rounds: int, have_np: bool, drain_only: bool,
            samples: dict[tuple[str, int, str], list[float]]) -> None:
    group = "drain" if drain_only else "e2e"
    progs = {rs: producers.ringbuf_producer(ring, rs) for rs in SIZES}
    try:
        with RingBuffer(ring, lambda mv: None) as rb:
            if drain_only:
                variants = {
                    "c": lambda rs: run_c(ref, ring, progs[rs], n, "drain"),
                    "callback": lambda rs: run_py_drain(progs[rs], n, rb.consume),
                    "batch": lambda rs: run_py_drain(progs[rs], n,
                                                     lambda: rb.consume_batch(_nop, record_size=rs)),
                    "batch (list)": lambda rs: run_py_drain(progs[rs], n, lambda: rb.consume_batch(_nop)),
                }
            else:
                variants = {
                    "c": lambda rs: run_c(ref, ring, progs[rs], n),
                    "callback": lambda rs: run_py(progs[rs], n, lambda: rb.poll(100)),
                    "batch": lambda rs: run_py(progs[rs], n, lambda: rb.poll_batch(_nop, 100, record_size=rs)),
                    "batch (list)": lambda rs: run_py(progs[rs], n, lambda: rb.poll_batch(_nop, 100)),
                }
            if not have_np:
                del variants["batch"]  # record_size without numpy would be the list path again
            names = list(variants)
            for r in range(rounds):
                for rs in SIZES:
                    k = r % len(names)
                    for name in names[k:] + names[:k]:  # rotate who goes first
                        secs, done = variants[name](rs)
                        if done != n:
                            die(f"{name} ({rs} B, {group}): drained {done} records, expected {n}", 1)
                        if rb.pending():
                            die(f"{name} ({rs} B, {group}): ring not empty after the run", 1)
                        samples.setdefault((group, rs, name), []).append(n / secs)
    finally:
        for p in progs.values():
            p.close()


def run(args: argparse.Namespace) -> list[dict]:
    ref = build_ref()
    import importlib.util

    have_np = importlib.util.find_spec("numpy") is not None
    samples: dict[tuple[str, int, str], list[float]] = {}
    with pybpf.Map.create(pybpf.MapType.RINGBUF, max_entries=args.ring_size, name="bench_rb") as ring:
        measure(ref, ring, args.records, args.rounds, have_np, False, samples)
    if args.drain_records:
        # big enough for drain_records 64-byte records (72 bytes each with the header)
        size = 1 << max(12, (args.drain_records * 72).bit_length())
        with pybpf.Map.create(pybpf.MapType.RINGBUF, max_entries=size, name="bench_rb_fill") as ring:
            measure(ref, ring, args.drain_records, args.rounds, have_np, True, samples)
    rows = []
    for group in ("e2e", "drain"):
        for rs in SIZES:
            if (group, rs, "c") not in samples:
                continue
            c = max(samples[(group, rs, "c")])
            for name, target in (("callback", 0.25), ("batch", 0.75), ("batch (list)", None)):
                if (group, rs, name) not in samples:
                    continue
                primary = group == "e2e" and target is not None
                py = max(samples[(group, rs, name)])
                ratio = py / c
                label = f"{rs:>2} B, {name}" + (" [drain only]" if group == "drain" else "")
                rows.append(dict(op=label, group=group, record_size=rs, api=name, py=py, c=c, ratio=ratio,
                                 target=f">= {target:.2f}" if primary else "info",
                                 ok=(ratio >= target) if primary else None, primary=primary,
                                 samples_py=samples[(group, rs, name)], samples_c=samples[(group, rs, "c")]))
    return rows


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    print(f"pybpf ring buffer benchmark: kernel {platform.release()}, Python {platform.python_version()}, "
          f"libbpf {libbpf_version()}, {os.cpu_count()} CPUs, {args.records:,} records per run, "
          f"{args.ring_size >> 10} KiB ring, best of {args.rounds} interleaved rounds")
    print("rates are records/s drained end to end (producer thread + consumer, the targets); [drain only] rows:")
    print(f"a pre-filled ring ({args.drain_records:,} records) drained without a producer (consumer cost alone);")
    print("ratio = pybpf rate / C rate\n")
    head = f"{'records, API':<34} {'pybpf':>12} {'C (libbpf)':>12} {'ratio':>7}  {'target':<8} result"
    print(head)
    print("-" * len(head))
    for r in rows:
        res = "-" if r["ok"] is None else ("PASS" if r["ok"] else "MISS")
        print(f"{r['op']:<34} {r['py'] / 1e6:8.2f} M/s {r['c'] / 1e6:8.2f} M/s {r['ratio']:6.2f}x  "
              f"{r['target']:<8} {res}")
    miss = [r["op"] for r in rows if r["primary"] and r["ok"] is False]
    print(f"\n{'all primary targets met' if not miss else 'MISSED: ' + ', '.join(miss)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1M records per run, 3 rounds (CI smoke runs)")
    ap.add_argument("--records", type=int, help="records per run (default 5,000,000; 1,000,000 with --quick)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds, best kept (default 7; 3 with --quick)")
    ap.add_argument("--ring-size", type=int, default=4 << 20, help="ring buffer bytes (default 4 MiB)")
    ap.add_argument("--drain-records", type=int,
                    help="records for the drain-only rows (default 500,000; 200,000 with --quick; 0: skip)")
    ap.add_argument("--pin", action="store_true",
                    help="pin consumer and producer threads to CPUs 0 and 1 (both sides); less noise on idle hosts")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    ap.add_argument("--check", action="store_true", help="exit 1 if a primary target is missed")
    args = ap.parse_args()
    args.records = args.records or (1_000_000 if args.quick else 5_000_000)
    args.rounds = args.rounds or (3 if args.quick else 7)
    if args.drain_records is None:
        args.drain_records = 200_000 if args.quick else 500_000
    if os.geteuid() != 0:
        die("must run as root (BPF maps and programs need CAP_BPF): sudo PYTHONPATH=src python3 bench/ringbuf.py")
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            die("--pin needs two CPUs")
        global PIN
        PIN = (cpus[0], cpus[1])
    rows = run(args)
    if args.json:
        print(json.dumps({"kernel": platform.release(), "python": platform.python_version(),
                          "libbpf": libbpf_version(), "records": args.records, "rounds": args.rounds,
                          "ring_size": args.ring_size, "drain_records": args.drain_records, "rows": rows}, indent=1))
    else:
        print_table(rows, args)
    if args.check and any(r["primary"] and r["ok"] is False for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
