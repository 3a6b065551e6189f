"""The ``pybpf`` command vs. bpftool, wall time per command, in one run.

Measured (each a fresh process, output to /dev/null, best of N rounds, the two
tools interleaved and alternating who goes first):

* ``prog list`` with the programs this script loads (20 XDP programs with a
  map each) plus whatever else is loaded; Python start-up included;
* ``map dump id N`` of a 100,000-entry hash map (4-byte keys, 8-byte values);
* ``btf dump file /sys/kernel/btf/vmlinux format c``, when pybpf.btf.cdump
  exists: once as shipped (pybpf keeps the rendered header in its on-disk
  cache after the first run) and once with ``PYBPF_BTF_CACHE=0`` (no cache).

Targets (pybpf / bpftool): prog list <= 2x, map dump <= 1x, btf dump <= 1.5x.
Also printed: the bare interpreter start-up (``python -c pass``) and pybpf's
time minus it, since a ~1 ms C tool cannot be matched by any Python process.

pybpf runs with its bytecode cached (PYTHONDONTWRITEBYTECODE is dropped from
its environment and one warm-up run compiles it), as an installed package would.

Run as root:  sudo PYTHONPATH=src python3 bench/cli.py [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(SRC))

TARGETS = {"prog list": 2.0, "map dump (100k)": 1.0, "btf dump format c": 1.5}


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


class Failed(Exception):
    pass


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise Failed(f"{' '.join(cmd[-6:])} failed ({r.returncode}): "
                     f"{r.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
    return dt


def best_pair(py: list[str], bt: list[str], rounds: int, env: dict[str, str]) -> tuple[float, float]:
    ours, theirs = [], []
    _wall(py, env)  # warm-up: bytecode, page cache, pybpf's disk caches
    _wall(bt, env)
    for r in range(rounds):
        if r % 2:
            theirs.append(_wall(bt, env))
            ours.append(_wall(py, env))
        else:
            ours.append(_wall(py, env))
            theirs.append(_wall(bt, env))
    return min(ours), min(theirs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (BPF objects)")
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not os.path.exists(bpftool):
        raise SystemExit("bpftool not found")
    from pybpf import Map, MapType, Program, ProgramType, asm

    py = [sys.executable, "-m", "pybpf"]
    env = _env()
    rows: list[dict[str, object]] = []
    start, _ = best_pair([sys.executable, "-c", "pass"], [bpftool, "version"], a.rounds, env)
    maps = [Map.create(MapType.HASH, 4, 8, 1024, name=f"bench_m{i}") for i in range(20)]
    progs = []
    big = Map.create(MapType.HASH, 4, 8, 100_000, name="bench_big")
    try:
        for i, m in enumerate(maps):
            b = asm.Builder().ld_map_fd(asm.R1, m.fd).mov(asm.R0, 2).exit_()
            progs.append(Program.load(ProgramType.XDP, b.build(), name=f"bench_p{i}"))
        n = 100_000
        big.update_batch([i.to_bytes(4, "little") for i in range(n)],
                         [(i * 2654435761 & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") for i in range(n)])
        cases: list[tuple[str, list[str], list[str], dict[str, str]]] = [
            ("prog list", ["prog", "list"], [], {}),
            ("map dump (100k)", ["map", "dump", "id", str(big.id)], [], {})]
        try:
            import pybpf.btf.cdump  # noqa: F401
            have_cdump = True
        except ImportError:
            have_cdump = False
        if have_cdump:
            vm = ["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"]
            # bpftool < 7.5 dumps in id order (no name sort): ask pybpf for the same work
            helptext = subprocess.run([bpftool, "btf", "help"], capture_output=True, text=True).stderr
            same = [] if "unsorted" in helptext else ["unsorted"]
            cases.append(("btf dump format c", vm, same, {}))
            cases.append(("btf dump format c, no cache", vm, same, {"PYBPF_BTF_CACHE": "0"}))
        for name, args, ours_extra, extra in cases:
            e = _env(extra)
            try:
                ours, theirs = best_pair(py + args + ours_extra, [bpftool, *args], a.rounds, e)
            except Failed as err:
                rows.append({"case": name, "pybpf_s": None, "bpftool_s": None, "ratio": None,
                             "target": TARGETS.get(name.split(",")[0]), "note": f"failed: {err}"})
                continue
            target = TARGETS.get(name, TARGETS.get(name.split(",")[0]))
            rows.append({"case": name, "pybpf_s": round(ours, 4), "bpftool_s": round(theirs, 4),
                         "ratio": round(ours / theirs, 2), "target": target,
                         "pybpf_minus_startup_s": round(max(ours - start, 0.0), 4)})
        if not have_cdump:
            rows.append({"case": "btf dump format c", "pybpf_s": None, "bpftool_s": None, "ratio": None,
                         "target": TARGETS["btf dump format c"], "note": "n/a: pybpf.btf.cdump missing"})
    finally:
        for p in progs:
            p.close()
        for m in maps:
            m.close()
        big.close()
    if a.json:
        print(json.dumps({"python_startup_s": round(start, 4), "rounds": a.rounds, "results": rows}, indent=2))
        return 0
    print(f"pybpf CLI vs bpftool, best of {a.rounds} (wall seconds; python -c pass = {start * 1000:.1f} ms)")
    print(f"{'case':<30} {'pybpf':>9} {'bpftool':>9} {'ratio':>7} {'target':>7}  {'pybpf-startup':>13}")
    for r in rows:
        if r.get("pybpf_s") is None:
            print(f"{r['case']:<30} {'n/a':>9} {'n/a':>9} {'n/a':>7} {r['target']:>6}x  ({r.get('note')})")
            continue
        ok = "ok" if r["ratio"] <= r["target"] else "MISS"  # type: ignore[operator]
        print(f"{r['case']:<30} {r['pybpf_s']:>9.4f} {r['bpftool_s']:>9.4f} {r['ratio']:>6.2f}x {r['target']:>6}x"
              f"  {r['pybpf_minus_startup_s']:>12.4f}s  {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
