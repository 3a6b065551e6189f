"""Finding the C compiler and describing the target.

Order of preference (first that works):

1. ``$PYBPF_CC`` (or the ``compiler=`` argument): ``zig``/``ziglang`` for the
   ``ziglang`` wheel, ``clang`` for a clang found on ``PATH``, or a command
   line (``clang-19``, ``/opt/llvm/bin/clang``, ``/path/to/zig cc``) used as given.
2. ``clang`` on ``PATH`` when it is clang >= 14 and has the BPF target.
3. The ``ziglang`` wheel (``pip install ziglang``; clang inside, no system toolchain).

Probing a compiler (``--version``, ``-print-targets``) costs a process
spawn, so results are memoized per executable (path, size, mtime) in memory
and in ``<cache>/compile/toolchains.json``: a warm compile never runs the compiler.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import sys
import threading
from typing import NamedTuple, Optional

from pybpf.errors import CompileError

from . import store

__all__ = ["Compiler", "find_compiler", "target_arch", "zig_path", "MIN_CLANG"]

MIN_CLANG = 14  # btf_type_tag/btf_decl_tag, preserve_type_info, CO-RE enum relocations

# platform.machine() -> (__TARGET_ARCH_ suffix, ziglang's UAPI header dir prefix)
_ARCHES = {
    "x86_64": ("x86", "x86"), "amd64": ("x86", "x86"), "i386": ("x86", "x86"), "i686": ("x86", "x86"),
    "aarch64": ("arm64", "aarch64"), "arm64": ("arm64", "aarch64"),
    "riscv64": ("riscv", "riscv"), "s390x": ("s390", "s390x"),
    "ppc64le": ("powerpc", "powerpc"), "ppc64": ("powerpc", "powerpc"),
    "loongarch64": ("loongarch", "loongarch"), "armv7l": ("arm", "arm"), "armv6l": ("arm", "arm"),
    "mips64": ("mips", "mips"), "mips": ("mips", "mips"),
}
_ZIG_UAPI = {v[0]: v[1] for v in _ARCHES.values()}


def target_arch(machine: Optional[str] = None) -> str:
    """libbpf's ``__TARGET_ARCH_<x>`` name for ``machine`` (default: this host).

    Also accepts the target names themselves (``x86``, ``arm64``, ``riscv``...).
    """
    m = (machine or os.uname().machine).lower()
    if m in _ZIG_UAPI:
        return m
    try:
        return _ARCHES[m][0]
    except KeyError:
        raise CompileError(f"unknown target architecture {m!r} (use one of {sorted(_ZIG_UAPI)})") from None


class Compiler(NamedTuple):
    """A C compiler that can target BPF.

    ``argv`` is the command prefix (``("/…/zig", "cc")`` or ``("/usr/bin/clang",)``),
    ``kind`` is ``"zig"`` or ``"clang"``, ``version`` the text identifying it
    (part of every cache key), ``origin`` says how it was chosen.
    """

    kind: str
    argv: tuple[str, ...]
    version: str
    origin: str
    zig_lib: Optional[str] = None

    @property
    def identity(self) -> str:
        """A string that changes whenever the compiler may produce different output."""
        return f"{self.kind}|{shlex.join(self.argv)}|{self.version}"

    def target_flags(self) -> list[str]:
        """Target selection: little/big-endian BPF with clang's hosted ``-target bpf`` semantics.

        zig's ``freestanding`` OS implies ``-ffreestanding -fno-builtin``, under
        which ``memset``/``memcpy`` calls are not inlined (BPF cannot call them):
        ``-fhosted -fbuiltin`` restore clang's defaults, and unwind tables (zig
        enables them; BPF has no use for ``.eh_frame``) are turned off.
        """
        endian = "bpfel" if sys.byteorder == "little" else "bpfeb"
        if self.kind == "zig":
            return ["-target", f"{endian}-freestanding-none", "-fhosted", "-fbuiltin", "-UNDEBUG"]
        return ["-target", endian]

    def frontend_argv(self) -> list[str]:
        """Command prefix and target flags for a front-end-only run (``-fsyntax-only``,
        ``-ast-dump``): clang itself. ``zig cc`` rejects ``-fsyntax-only`` for BPF, so
        the wheel runs as ``zig clang``, which needs clang's builtin headers named."""
        endian = "bpfel" if sys.byteorder == "little" else "bpfeb"
        if self.kind != "zig":
            return [*self.argv, "-target", endian]
        exe = self.argv[0]
        lib = self.zig_lib or os.path.join(os.path.dirname(os.path.realpath(exe)), "lib")
        return [exe, "clang", "-target", endian, "-nostdinc", "-isystem", os.path.join(lib, "include")]

    def system_include_flags(self, arch: str) -> list[str]:
        """System include dirs: the Linux UAPI headers (``<linux/bpf.h>``, ``<asm/types.h>``)
        that the ziglang wheel ships, for whichever compiler runs.

        The build is hermetic: a system clang gets ``-nostdlibinc`` too, so both
        compilers see the same headers (clang's own ``stddef.h``/``stdint.h``... plus
        these), never ``/usr/include`` (whose glibc headers do not work for
        ``-target bpf``). Without the wheel, a system clang keeps ``/usr/include``
        and gets its multiarch directory (as libbpf-bootstrap's Makefile adds).
        """
        lib = self.zig_lib
        if lib is None:
            zig = zig_path()
            lib = os.path.join(os.path.dirname(zig), "lib") if zig else None
        base = os.path.join(lib, "libc", "include") if lib else ""
        dirs = [os.path.join(base, f"{_ZIG_UAPI.get(arch, arch)}-linux-any"), os.path.join(base, "any-linux-any")]
        out = [f for d in dirs if base and os.path.isdir(d) for f in ("-idirafter", d)]
        if self.kind == "clang":
            if out:
                out.insert(0, "-nostdlibinc")
            else:
                multiarch = f"/usr/include/{os.uname().machine}-linux-gnu"
                if os.path.isdir(multiarch):
                    out += ["-idirafter", multiarch]
        return out

    def env(self, scratch: str) -> dict[str, str]:
        """Environment for running the compiler: zig's own cache goes to ``scratch``.

        (zig caches compiled objects and would replay a hit without its warnings.)
        """
        env = dict(os.environ)
        if self.kind == "zig":
            env["ZIG_GLOBAL_CACHE_DIR"] = env["ZIG_LOCAL_CACHE_DIR"] = os.path.join(scratch, "zig-cache")
        env.setdefault("LC_ALL", "C")
        return env


def zig_path() -> Optional[str]:
    """The ``zig`` executable of the installed ``ziglang`` wheel, or None."""
    try:
        spec = importlib.util.find_spec("ziglang")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for d in spec.submodule_search_locations:
        for name in ("zig", "zig.exe"):
            p = os.path.join(d, name)
            if os.path.isfile(p) and os.access(p, os.X_OK):
                return p
    return None


# ---- probing, memoized --------------------------------------------------

_lock = threading.Lock()
_memo: dict[str, dict] = {}
_disk_loaded = False


def _memo_path() -> str:
    return os.path.join(store.compile_dir(), "toolchains.json")


def _stat_key(argv: tuple[str, ...]) -> Optional[str]:
    exe = shutil.which(argv[0]) if os.sep not in argv[0] else argv[0]
    if not exe:
        return None
    try:
        real = os.path.realpath(exe)
        st = os.stat(real)
    except OSError:
        return None
    raw = f"{shlex.join(argv)}|{real}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def _probe(argv: tuple[str, ...], kind: str) -> Optional[dict]:
    """``{"version": str, "bpf": bool}`` for a compiler command, memoized; None if it can't run."""
    global _disk_loaded
    key = _stat_key(argv)
    if key is None:
        return None
    with _lock:
        if not _disk_loaded:
            _disk_loaded = True
            try:
                with open(_memo_path()) as f:
                    data = json.load(f)
                if isinstance(data, dict):
                    _memo.update({k: v for k, v in data.items() if isinstance(v, dict)})
            except (OSError, ValueError):
                pass
        hit = _memo.get(key)
    if hit is not None:
        return hit
    info = _run_probe(argv, kind)
    if info is None:
        return None
    with _lock:
        _memo[key] = info
        store.atomic_write(_memo_path(), json.dumps(_memo, indent=0, sort_keys=True).encode())
    return info


def _run_probe(argv: tuple[str, ...], kind: str) -> Optional[dict]:
    import subprocess

    def run(*args: str) -> Optional[str]:
        try:
            p = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60,
                               env={**os.environ, "LC_ALL": "C"})
        except (OSError, subprocess.SubprocessError):
            return None
        return (p.stdout + p.stderr) if p.returncode == 0 else None

    zig_version = None
    if kind == "zig":  # `zig version` runs alongside `zig cc --version` (a cold first compile waits for both)
        try:
            zig_version = subprocess.Popen([argv[0], "version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                           text=True)
        except OSError:
            zig_version = None
    ver = run("--version")
    zv = None
    if zig_version is not None:
        try:
            out, _ = zig_version.communicate(timeout=60)
            zv = out.strip() if zig_version.returncode == 0 else None
        except subprocess.SubprocessError:
            zig_version.kill()
            zig_version.wait()
    if ver is None:
        return None
    first = ver.strip().splitlines()[0] if ver.strip() else "unknown"
    if kind == "zig":
        return {"version": f"zig {zv or '?'} / {first}", "bpf": True}
    targets = run("-print-targets") or ""
    return {"version": first, "bpf": bool(re.search(r"^\s*bpf\b", targets, re.M))}


def _clang_major(version: str) -> int:
    m = re.search(r"clang version (\d+)", version)
    return int(m.group(1)) if m else 0


# ---- selection ------------------------------------------------------------

def _from_zig(origin: str) -> Optional[Compiler]:
    zig = zig_path()
    if not zig:
        return None
    argv = (zig, "cc")
    info = _probe(argv, "zig")
    if info is None:
        return None
    return Compiler("zig", argv, info["version"], origin, zig_lib=os.path.join(os.path.dirname(zig), "lib"))


def _from_path_clang(origin: str, strict: bool) -> Optional[Compiler]:
    exe = shutil.which("clang")
    if not exe:
        return None
    info = _probe((exe,), "clang")
    if info is None:
        return None
    if strict and (not info["bpf"] or _clang_major(info["version"]) < MIN_CLANG):
        return None
    return Compiler("clang", (exe,), info["version"], origin)


def _from_command(spec: str) -> Compiler:
    argv = tuple(shlex.split(spec))
    if not argv:
        raise CompileError("PYBPF_CC is empty")
    exe = shutil.which(argv[0])
    if not exe:
        raise CompileError(f"compiler {argv[0]!r} (from PYBPF_CC/compiler=) not found")
    argv = (exe, *argv[1:])
    kind = "zig" if os.path.basename(exe).startswith("zig") else "clang"
    if kind == "zig" and argv[1:2] != ("cc",):
        argv = (exe, "cc", *argv[1:])
    info = _probe(argv, kind)
    if info is None:
        raise CompileError(f"compiler {shlex.join(argv)!r} does not run ({shlex.join(argv)} --version failed)")
    zig_lib = os.path.join(os.path.dirname(os.path.realpath(exe)), "lib") if kind == "zig" else None
    return Compiler(kind, argv, info["version"], "PYBPF_CC", zig_lib=zig_lib)


def find_compiler(spec: Optional[str] = None) -> Compiler:
    """The compiler to use: ``spec`` (or ``$PYBPF_CC``), else clang on PATH, else ziglang.

    Raises :class:`~pybpf.errors.CompileError` when there is none.
    """
    spec = spec if spec is not None else os.environ.get("PYBPF_CC") or None
    if spec is not None:
        s = spec.strip()
        if s.lower() in ("zig", "ziglang"):
            c = _from_zig("PYBPF_CC")
            if c is None:
                raise CompileError("PYBPF_CC=zig but the ziglang wheel is not installed (pip install ziglang)")
            return c
        if s.lower() == "clang":
            c = _from_path_clang("PYBPF_CC", strict=False)
            if c is None:
                raise CompileError("PYBPF_CC=clang but no working clang on PATH")
            return c
        return _from_command(s)
    c = _from_path_clang("PATH", strict=True) or _from_zig("ziglang")
    if c is None:
        raise CompileError("no C compiler for BPF: pip install ziglang (or install clang >= "
                           f"{MIN_CLANG}, or set PYBPF_CC)")
    return c
