"""Map operation throughput: pybpf vs. a libbpf C reference, in one run.

What it measures, on BPF_MAP_TYPE_HASH maps with 4-byte keys and 8-byte values:

* per-op ``lookup`` and ``update`` rates: N operations (default 200,000) over
  keys 0..N-1 of a pre-populated map; pybpf via ``m.lookup(key)`` /
  ``m.update(key, value)`` with pre-built ``bytes`` keys (the syscall path), plus
  a secondary line with ``int`` keys (includes int -> bytes conversion);
* dumping a 1,000,000-entry map: a per-element walk (``m.items()``:
  GET_NEXT_KEY + LOOKUP_ELEM per key) and a batch dump (``m.dump_raw()``:
  BPF_MAP_LOOKUP_BATCH into contiguous bytes; ``m.items_batch()`` as info).

The reference is bench/c/maps_ref.c (libbpf's bpf_map_* API), compiled here with
``cc -O2 ... -lbpf`` into bench/_build/. It works on the very same map (the fd is
inherited), so both sides see an identical hash table. C and Python runs are
interleaved (alternating order) for several rounds and the best of each is kept.
Targets: per-op rate >= 0.5x C; per-element walk time <= 2x C (the same 0.5x
rate); batch dump time <= 1.5x C.

Run as root:  sudo PYTHONPATH=src python3 bench/maps.py [--quick] [--json] [--check]
Needs gcc and libbpf-dev (apt-get install gcc libbpf-dev).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # run from a checkout without installing

import pybpf  # noqa: E402
from _cref import build_libbpf_ref, die, libbpf_version  # noqa: E402

C_SRC = HERE / "c" / "maps_ref.c"


def build_ref() -> Path:
    """Compile maps_ref.c (cached by source hash) and return the binary path."""
    return build_libbpf_ref(C_SRC, "maps_ref")


class Bench:
    def __init__(self, ref: Path, rounds: int) -> None:
        self.ref = ref
        self.rounds = rounds
        self.samples: dict[str, dict[str, list[float]]] = {}

    def c(self, op: str, m: pybpf.Map, n: int, chunk: int = 0) -> tuple[float, int]:
        """Run the C reference on m's fd; returns (seconds, elements done)."""
        args = [str(self.ref), op, str(m.fd), str(n)] + ([str(chunk)] if chunk else [])
        r = subprocess.run(args, pass_fds=(m.fd,), capture_output=True, text=True)
        if r.returncode != 0:
            die(f"C reference {op} failed: {r.stderr.strip()}", 1)
        d = json.loads(r.stdout)
        return d["ns"] / 1e9, int(d["n"])

    def pair(self, name: str, c_fn, py_fn, expect: int) -> None:
        """Run C and Python ``rounds`` times, alternating which goes first."""
        s = self.samples.setdefault(name, {"c": [], "py": []})
        for r in range(self.rounds):
            order = [("c", c_fn), ("py", py_fn)]
            for side, fn in order if r % 2 == 0 else order[::-1]:
                secs, done = fn()
                if done != expect:
                    die(f"{name} ({side}): processed {done} elements, expected {expect}", 1)
                s[side].append(secs)

    def best(self, name: str) -> tuple[float, float]:
        s = self.samples[name]
        return min(s["py"]), min(s["c"])


def timed(fn) -> tuple[float, int]:
    t0 = time.perf_counter_ns()
    n = fn()
    return (time.perf_counter_ns() - t0) / 1e9, n


def py_lookup(m: pybpf.Map, keys) -> int:
    lookup = m.lookup
    n = 0
    for k in keys:
        if lookup(k) is not None:
            n += 1
    return n


def py_update(m: pybpf.Map, keys, value) -> int:
    update = m.update
    for k in keys:
        update(k, value)
    return len(keys)


def py_update_int(m: pybpf.Map, keys) -> int:
    update = m.update
    for k in keys:
        update(k, k)
    return len(keys)


def py_walk(m: pybpf.Map) -> int:
    n = 0
    for _k, _v in m.items():
        n += 1
    return n


def populate(m: pybpf.Map, n: int) -> None:
    keys = list(range(n))
    done = m.update_batch(keys, keys)
    if done != n:
        die(f"populate: update_batch wrote {done} of {n}", 1)


def run(args: argparse.Namespace) -> list[dict]:
    ref = build_ref()
    b = Bench(ref, args.rounds)
    n, entries, chunk = args.ops, args.entries, args.chunk
    rows: list[dict] = []

    with pybpf.Map.create(pybpf.MapType.HASH, 4, 8, n, name="bench_ops") as m:
        populate(m, n)
        bkeys = [i.to_bytes(4, "little") for i in range(n)]
        ikeys = list(range(n))
        val = (7).to_bytes(8, "little")
        b.pair("lookup", lambda: b.c("lookup", m, n), lambda: timed(lambda: py_lookup(m, bkeys)), n)
        b.pair("lookup (int keys)", lambda: b.c("lookup", m, n), lambda: timed(lambda: py_lookup(m, ikeys)), n)
        b.pair("update", lambda: b.c("update", m, n), lambda: timed(lambda: py_update(m, bkeys, val)), n)
        b.pair("update (int keys)", lambda: b.c("update", m, n), lambda: timed(lambda: py_update_int(m, ikeys)), n)
    for name, primary in (("lookup", True), ("lookup (int keys)", False),
                          ("update", True), ("update (int keys)", False)):
        py, c = b.best(name)
        ratio = c / py  # rate ratio = inverse time ratio
        rows.append(dict(op=f"{name} x{n}", kind="rate", py=n / py, c=n / c, ratio=ratio, target=">= 0.50",
                         ok=ratio >= 0.5, primary=primary, samples_s=b.samples[name]))

    with pybpf.Map.create(pybpf.MapType.HASH, 4, 8, entries, name="bench_dump") as m:
        populate(m, entries)

        def raw_dump() -> int:
            return m.dump_raw(chunk)[2]

        def items_batch() -> int:
            return len(m.items_batch(chunk))

        c_batch = lambda: b.c("batch", m, entries, chunk)  # noqa: E731
        b.pair("walk", lambda: b.c("walk", m, entries), lambda: timed(lambda: py_walk(m)), entries)
        b.pair("batch dump_raw", c_batch, lambda: timed(raw_dump), entries)
        b.pair("batch items_batch", c_batch, lambda: timed(items_batch), entries)
    for name, label, limit, primary in (
        ("walk", f"walk items() {entries}", 2.0, True),
        ("batch dump_raw", f"batch dump_raw() {entries}, chunk {chunk}", 1.5, True),
        ("batch items_batch", f"batch items_batch() {entries}", None, False),
    ):
        py, c = b.best(name)
        ratio = py / c
        rows.append(dict(op=label, kind="time", py=py, c=c, ratio=ratio,
                         target=f"<= {limit:.2f}" if limit else "info", ok=ratio <= limit if limit else None,
                         primary=primary, samples_s=b.samples[name]))
    return rows


def fmt(r: dict, side: str) -> str:
    v = r[side]
    return f"{v / 1e3:9.1f} k/s" if r["kind"] == "rate" else f"{v * 1e3:9.1f} ms"


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    print(f"pybpf map benchmark: kernel {platform.release()}, Python {platform.python_version()}, "
          f"libbpf {libbpf_version()}, {os.cpu_count()} CPUs, best of {args.rounds} interleaved rounds")
    print("ratio: per-op rows = pybpf rate / C rate; dump rows = pybpf time / C time\n")
    head = f"{'operation':<44} {'pybpf':>13} {'C (libbpf)':>13} {'ratio':>7}  {'target':<8} result"
    print(head)
    print("-" * len(head))
    for r in rows:
        res = "-" if r["ok"] is None else ("PASS" if r["ok"] else "MISS")
        if not r["primary"] and r["ok"] is not None:
            res += " (secondary)"
        print(f"{r['op']:<44} {fmt(r, 'py'):>13} {fmt(r, 'c'):>13} {r['ratio']:6.2f}x  {r['target']:<8} {res}")
    miss = [r["op"] for r in rows if r["primary"] and r["ok"] is False]
    print(f"\n{'all primary targets met' if not miss else 'MISSED: ' + ', '.join(miss)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for CI smoke runs (20k ops, 100k entries)")
    ap.add_argument("--ops", type=int, help="per-op count (default 200000; 20000 with --quick)")
    ap.add_argument("--entries", type=int, help="dump map size (default 1000000; 100000 with --quick)")
    ap.add_argument("--chunk", type=int, default=65536, help="batch size for both sides (default 65536)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds, best kept (default 5; 3 with --quick)")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    ap.add_argument("--check", action="store_true", help="exit 1 if a primary target is missed")
    args = ap.parse_args()
    args.ops = args.ops or (20_000 if args.quick else 200_000)
    args.entries = args.entries or (100_000 if args.quick else 1_000_000)
    args.rounds = args.rounds or (3 if args.quick else 5)
    if os.geteuid() != 0:
        die("must run as root (creating BPF maps needs CAP_BPF): sudo PYTHONPATH=src python3 bench/maps.py")
    rows = run(args)
    if args.json:
        print(json.dumps({"kernel": platform.release(), "python": platform.python_version(),
                          "libbpf": libbpf_version(), "ops": args.ops, "entries": args.entries,
                          "chunk": args.chunk, "rounds": args.rounds, "rows": rows}, indent=1))
    else:
        print_table(rows, args)
    if args.check and any(r["primary"] and r["ok"] is False for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
