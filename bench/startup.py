"""Compile latency: pybpf.compile (ziglang) vs. clang-19 run by hand, cold and warm.

For each program of tests/data/compile given (default: hello.bpf.c, a small
<linux/bpf.h> XDP program, and procs.bpf.c, a vmlinux.h/CO-RE tracer):

* ``clang-19``: ``clang-19 -target bpf -O2 -g -mcpu=v3 -c`` with pybpf's headers,
  run directly (the system-toolchain baseline; vmlinux.h pre-generated);
* ``zig cc``: the same through the ziglang wheel's ``zig cc``, run directly;
* ``compile(cold)``: ``pybpf.compile.compile(..., cache=False)``, i.e. the
  driver's overhead on top of ``zig cc``;
* ``compile(warm)``: a cache hit in a process that has compiled before;
* ``new process warm``: ``python -c "from pybpf.compile import compile; compile(...)"``
  on a warm cache, interpreter start and import included;
* ``vmlinux.h``: generating the header from the kernel's BTF (pybpf's dumper), once.

Best of N runs (default 5). Run:  PYTHONPATH=src python3 bench/startup.py [-n 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from pybpf.compile import compile, include_dir, toolchain, vmlinux  # noqa: E402

DATA = ROOT / "tests" / "data" / "compile"


def best(fn, n: int) -> float:
    """Best wall time of ``n`` calls of ``fn``, in milliseconds."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1000


def run(argv: list[str], env=None) -> None:
    subprocess.run(argv, check=True, capture_output=True, env=env)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("programs", nargs="*", default=["hello.bpf.c", "procs.bpf.c"])
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    cache = tempfile.mkdtemp(prefix="pybpf-bench-")
    os.environ["PYBPF_CACHE_DIR"] = cache
    results: dict[str, dict[str, float]] = {}
    try:
        t = time.perf_counter()
        vdir = vmlinux.ensure_header() if os.path.exists(vmlinux.VMLINUX_BTF) else None
        gen_ms = (time.perf_counter() - t) * 1000
        zig = toolchain.find_compiler("zig")
        arch = toolchain.target_arch()
        inc = ["-isystem", str(include_dir()), *zig.system_include_flags(arch)]
        if vdir:
            inc += ["-idirafter", vdir]
        common = ["-O2", "-g", "-mcpu=v3", f"-D__TARGET_ARCH_{arch}", *inc]
        out = os.path.join(cache, "out.o")
        for prog in a.programs:
            src = str(DATA / prog)
            r: dict[str, float] = {}
            if shutil.which("clang-19"):
                r["clang-19"] = best(lambda: run(["clang-19", "-target", "bpf", *common, "-c", src, "-o", out]), a.n)
            zdir = tempfile.mkdtemp(dir=cache)
            env = {**os.environ, "ZIG_GLOBAL_CACHE_DIR": zdir, "ZIG_LOCAL_CACHE_DIR": zdir}
            r["zig cc"] = best(lambda: (shutil.rmtree(zdir, ignore_errors=True),  # no zig-internal cache hits
                                        run([*zig.argv, *zig.target_flags(), *common, "-c", src, "-o", out], env)),
                               a.n)
            r["compile(cold)"] = best(lambda: compile(Path(src), cache=False), a.n)
            compile(Path(src))
            r["compile(warm)"] = best(lambda: compile(Path(src)), max(a.n, 20))
            code = f"from pathlib import Path; from pybpf.compile import compile; compile(Path({src!r}))"
            penv = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            r["new process warm"] = best(lambda: run([sys.executable, "-c", code], penv), a.n)
            r["python -c pass"] = best(lambda: run([sys.executable, "-c", "pass"], penv), a.n)
            results[prog] = r
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if a.json:
        print(json.dumps({"vmlinux_h_ms": gen_ms, "compiler": zig.version, "programs": results}, indent=2))
        return 0
    print(f"compiler: {zig.version}; vmlinux.h generation: {gen_ms:.0f} ms (once per kernel)")
    cols = list(next(iter(results.values())).keys())
    print(f"{'program':<16}" + "".join(f"{c:>18}" for c in cols))
    for prog, r in results.items():
        print(f"{prog:<16}" + "".join(f"{r[c]:>15.1f} ms" for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
