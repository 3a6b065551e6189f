"""Object load time: pybpf vs. a libbpf C reference, in one run.

What it measures, on bench/c/core_tool.bpf.c (one raw_tp program of ~250
instructions with 25 CO-RE relocations against task_struct, cred, mm_struct and
an enum, a hash map, .bss and .rodata), compiled here with clang:

* pybpf: ``pybpf.open(bytes)`` + ``spec.load()`` + ``obj.close()``, timed in-process;
  - **warm**: the vmlinux BTF index is in the on-disk cache (pybpf.btf.cache), but
    the in-process parsed vmlinux BTF is dropped before every iteration, so each
    load reads /sys/kernel/btf/vmlinux and relocates against a fresh BTF object,
    exactly as every ``bpf_object__load()`` re-parses vmlinux BTF in libbpf. This
    is the first load of a freshly started pybpf tool (imports excluded);
  - **cold**: the same with an empty cache directory (``PYBPF_CACHE_DIR``), so the
    vmlinux index is built (and written) in every iteration: a tool's first run;
  - **hot** (information): parsed vmlinux BTF kept in the process, i.e. every load
    after the first in a long-running process;
* libbpf: ``bpf_object__open_mem()`` + ``bpf_object__load()`` + ``bpf_object__close()``,
  timed in-process in C (bench/c/load_ref.c, built with ``cc -O2 ... -lbpf``);
* vmlinux BTF indexing alone: pybpf cold (scan + name index + cache write) and
  warm (from the cache), vs libbpf's ``btf__load_vmlinux_btf()``.

Runs are interleaved (C, then pybpf, alternating order per round) and the best
of each is kept. Target: warm pybpf <= 1.5x libbpf. Before timing, the programs
pybpf loads are checked to translate to the same kernel bytecode as libbpf's
(through ``bpftool prog loadall``, if bpftool is installed).

Run as root:  sudo PYTHONPATH=src python3 bench/load.py [--quick] [--json] [--check] [--profile]
Needs clang (PYBPF_CLANG, default clang-19), gcc and libbpf-dev.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # run from a checkout without installing

import pybpf  # noqa: E402
from pybpf.btf.spec import BTF  # noqa: E402
from _cref import INSTALL_HINT, build_libbpf_ref, cached_build, die, libbpf_version  # noqa: E402

C_SRC = HERE / "c" / "load_ref.c"
BPF_SRC = HERE / "c" / "core_tool.bpf.c"
VMLINUX = "/sys/kernel/btf/vmlinux"
TARGET = 1.5


def build_ref() -> Path:
    return build_libbpf_ref(C_SRC, "load_ref")


def build_obj() -> Path:
    clang = shutil.which(os.environ.get("PYBPF_CLANG", "clang-19")) or shutil.which("clang")
    if not clang:
        die(f"clang not found (set PYBPF_CLANG); {INSTALL_HINT}")
    arch = os.uname().machine
    return cached_build("core_tool.bpf.o", BPF_SRC, lambda o: [
        clang, "-target", "bpf", "-O2", "-g", "-c", f"-I/usr/include/{arch}-linux-gnu", str(BPF_SRC), "-o", str(o)],
        "CO-RE test object")


# ---------------------------------------------------------------------- measurements
def run_c(ref: Path, arg: str, n: int) -> list[float]:
    r = subprocess.run([str(ref), arg, str(n)], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"C reference failed: {r.stderr.strip()}", 1)
    return [ns / 1e9 for ns in json.loads(r.stdout)["ns"]]


@contextlib.contextmanager
def cache_env(cache_dir: str | None) -> Iterator[None]:
    """Point pybpf's BTF index cache at ``cache_dir`` (None: leave the user's setting), cache enabled."""
    saved = {k: os.environ.get(k) for k in ("PYBPF_CACHE_DIR", "PYBPF_BTF_CACHE")}
    os.environ.pop("PYBPF_BTF_CACHE", None)  # the cache must be on for warm runs
    if cache_dir is not None:
        os.environ["PYBPF_CACHE_DIR"] = cache_dir
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _empty(d: str) -> None:
    for e in os.scandir(d):
        os.unlink(e.path)


def py_load(data: bytes, n: int, mode: str, cold_dir: str) -> list[float]:
    """``n`` timed open+load+close iterations; ``mode``: warm | cold | hot."""
    out = []
    with cache_env(cold_dir if mode == "cold" else None):
        for _ in range(n):
            if mode != "hot":
                BTF._loaded.clear()  # noqa: SLF001 - drop the in-process vmlinux BTF
            if mode == "cold":
                _empty(cold_dir)
            t0 = time.perf_counter_ns()
            obj = pybpf.open(data).load()
            obj.close()
            out.append((time.perf_counter_ns() - t0) / 1e9)
    return out


def py_index(n: int, mode: str, cold_dir: str) -> list[float]:
    """Read + index /sys/kernel/btf/vmlinux: ``cold`` builds and stores the index, ``warm`` loads it."""
    out = []
    with cache_env(cold_dir if mode == "cold" else None):
        for _ in range(n):
            BTF._loaded.clear()  # noqa: SLF001
            if mode == "cold":
                _empty(cold_dir)
            t0 = time.perf_counter_ns()
            BTF.load_vmlinux()
            out.append((time.perf_counter_ns() - t0) / 1e9)
    BTF._loaded.clear()  # noqa: SLF001
    return out


# ---------------------------------------------------------------------- same result as libbpf
def _normalize(xlated: bytes) -> list[tuple]:
    from pybpf import asm
    from pybpf.map import Map

    out: list[tuple] = []
    for i in asm.decode(xlated):
        if i.opcode == 0x18 and i.src in (1, 2):
            with Map.from_id(i.imm & 0xFFFFFFFF) as m:
                out.append(("lddw", i.dst, i.src, m.name, i.imm >> 32))
        else:
            out.append((i.opcode, i.dst, i.src, i.off, i.imm))
    return out


def verify_same_as_libbpf(obj_path: Path) -> str:
    """'same' if every program's xlated bytecode equals libbpf's (bpftool prog loadall)."""
    from pybpf._sys.fs import ensure_bpffs
    from pybpf.prog import Program

    bpftool = shutil.which("bpftool")
    if bpftool is None:
        return "not checked (no bpftool)"
    ensure_bpffs()
    pin = f"/sys/fs/bpf/pybpf_bench_load_{os.getpid()}"
    shutil.rmtree(pin, ignore_errors=True)
    try:
        r = subprocess.run([bpftool, "prog", "loadall", str(obj_path), pin], capture_output=True, text=True)
        if r.returncode:
            return f"not checked (bpftool failed: {r.stderr.strip().splitlines()[-1:]})"
        ref = {}
        for name in sorted(os.listdir(pin)):
            with Program.from_pin(os.path.join(pin, name)) as p:
                ref[name] = _normalize(p.xlated_bytes())
    finally:
        shutil.rmtree(pin, ignore_errors=True)
    with pybpf.load(str(obj_path)) as obj:
        got = {name: _normalize(p.xlated_bytes()) for name, p in obj.programs.items()}
    if got != ref:
        die(f"pybpf and libbpf loaded different bytecode for {obj_path.name}: "
            f"{sorted(got)} vs {sorted(ref)}", 1)
    return "same xlated bytecode as libbpf"


# ---------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> dict:
    ref, obj_path = build_ref(), build_obj()
    data = obj_path.read_bytes()
    spec = pybpf.open(data)
    nrelos = sum(len(p.core_relos) for p in spec.programs.values())
    ninsns = sum(len(p.instructions or ()) for p in spec.programs.values())
    check = verify_same_as_libbpf(obj_path)
    samples: dict[str, list[float]] = {k: [] for k in ("c", "warm", "cold", "hot", "c_btf", "idx_cold", "idx_warm")}
    with tempfile.TemporaryDirectory(prefix="pybpf-bench-cache-") as cold_dir:
        # untimed warm-up: imports, feature probes (libbpf caches those per process too), disk cache filled
        with cache_env(None):
            BTF._loaded.clear()  # noqa: SLF001
            pybpf.open(data).load().close()
        n = args.iters
        for r in range(args.rounds):
            steps: list[tuple[str, Callable[[], list[float]]]] = [
                ("c", lambda: run_c(ref, str(obj_path), n + 1)[1:]),  # its 1st iteration probes features
                ("warm", lambda: py_load(data, n, "warm", cold_dir)),
                ("cold", lambda: py_load(data, max(1, n // 2), "cold", cold_dir)),
                ("hot", lambda: py_load(data, n, "hot", cold_dir)),
                ("c_btf", lambda: run_c(ref, "--btf", n)),
                ("idx_warm", lambda: py_index(n, "warm", cold_dir)),
                ("idx_cold", lambda: py_index(max(1, n // 2), "cold", cold_dir)),
            ]
            for name, fn in steps if r % 2 == 0 else steps[::-1]:
                samples[name].extend(fn())
    best = {k: min(v) for k, v in samples.items()}
    prof = profile(data) if args.profile else None
    return dict(kernel=platform.release(), python=platform.python_version(), libbpf=libbpf_version(),
                cpus=os.cpu_count(), rounds=args.rounds, iters=args.iters, object=obj_path.name,
                instructions=ninsns, core_relos=nrelos, check=check, best_s=best, samples_s=samples,
                ratio_warm=best["warm"] / best["c"], ratio_cold=best["cold"] / best["c"],
                ratio_hot=best["hot"] / best["c"], target=TARGET, ok=best["warm"] / best["c"] <= TARGET,
                profile=prof)


def profile(data: bytes, n: int = 10) -> str:
    """cProfile of ``n`` warm loads, top functions by internal time."""
    import cProfile
    import io
    import pstats

    pr = cProfile.Profile()
    with cache_env(None):
        for _ in range(n):
            BTF._loaded.clear()  # noqa: SLF001
            pr.enable()
            pybpf.open(data).load().close()
            pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(25)
    return s.getvalue()


def print_table(res: dict) -> None:
    b = res["best_s"]
    print(f"pybpf object load benchmark: kernel {res['kernel']}, Python {res['python']}, libbpf {res['libbpf']}, "
          f"{res['cpus']} CPUs, best of {res['rounds']} interleaved rounds x {res['iters']} iterations")
    print(f"object {res['object']}: {res['instructions']} instructions, {res['core_relos']} CO-RE relocations; "
          f"{res['check']}\n")
    head = f"{'open + CO-RE + load + close':<46} {'time':>10} {'vs libbpf':>10}  {'target':<8} result"
    print(head)
    print("-" * len(head))
    c = b["c"]
    ok = "PASS" if res["ok"] else "MISS"
    rows = [
        ("libbpf (bpf_object__open_mem + __load)", c, None, "", ""),
        ("pybpf warm (vmlinux index cached on disk)", b["warm"], b["warm"] / c, f"<= {TARGET:.2f}", ok),
        ("pybpf cold (empty cache directory)", b["cold"], b["cold"] / c, "info", "-"),
        ("pybpf hot (vmlinux BTF already parsed)", b["hot"], b["hot"] / c, "info", "-"),
    ]
    for label, t, ratio, target, result in rows:
        rs = f"{ratio:9.2f}x" if ratio is not None else f"{'1.00x':>10}"
        print(f"{label:<46} {t * 1e3:7.2f} ms {rs}  {target:<8} {result}")
    print(f"\n{'vmlinux BTF indexing':<46} {'time':>10}")
    print("-" * 58)
    print(f"{'libbpf btf__load_vmlinux_btf()':<46} {b['c_btf'] * 1e3:7.2f} ms")
    print(f"{'pybpf cold (read + scan + name index + store)':<46} {b['idx_cold'] * 1e3:7.2f} ms")
    print(f"{'pybpf warm (read + hash + load cached index)':<46} {b['idx_warm'] * 1e3:7.2f} ms")
    print(f"\n{'target met' if res['ok'] else 'MISSED'}: pybpf warm / libbpf = {res['ratio_warm']:.2f}x "
          f"(target <= {TARGET:.2f}x)")
    if res.get("profile"):
        print("\ncProfile of warm loads (tottime):\n" + res["profile"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds x 3 iterations")
    ap.add_argument("--rounds", type=int, help="interleaved rounds, best kept (default 7; 3 with --quick)")
    ap.add_argument("--iters", type=int, help="iterations per round and side (default 5; 3 with --quick)")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    ap.add_argument("--check", action="store_true", help="exit 1 if the warm target is missed")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of warm pybpf loads")
    args = ap.parse_args()
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.iters = args.iters or (3 if args.quick else 5)
    if os.geteuid() != 0:
        die("must run as root (loading programs needs CAP_BPF): sudo PYTHONPATH=src python3 bench/load.py")
    if not os.path.exists(VMLINUX):
        die(f"{VMLINUX} missing: the kernel has no BTF (CONFIG_DEBUG_INFO_BTF)")
    res = run(args)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print_table(res)
    if args.check and not res["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
