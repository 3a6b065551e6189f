"""Compile the C test objects of this directory with clang (used by the tests).

``build_all(dest)`` returns {object name: path}; objects of ``kinds.c`` are
built once per ``KIND_*`` (``kind_<name>``) and once with all kinds (``kinds``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
CLANG = os.environ.get("PYBPF_CLANG", "clang-19")
SOURCES = ("hello", "subprogs", "globals", "tailcall", "mapinmap", "pinned", "core", "externs", "legacy")


def clang() -> str | None:
    """The clang binary, or None if it is not installed."""
    return shutil.which(CLANG)


def kinds() -> list[str]:
    """The KIND_* names used in kinds.c, in file order."""
    with open(os.path.join(HERE, "kinds.c")) as f:
        return re.findall(r"^#if K\((\w+)\)", f.read(), re.M)


def flags() -> list[str]:
    arch = os.uname().machine
    target_arch = {"x86_64": "x86", "aarch64": "arm64", "s390x": "s390", "ppc64le": "powerpc"}.get(arch, arch)
    return ["-target", "bpf", "-O2", "-g", "-c", f"-I/usr/include/{arch}-linux-gnu", f"-D__TARGET_ARCH_{target_arch}",
            f"-I{HERE}"]


def build(src: str, out: str, defines: tuple[str, ...] = ()) -> str:
    cc = clang()
    if cc is None:
        raise RuntimeError(f"{CLANG} is not installed")
    cmd = [cc, *flags(), *(f"-D{d}" for d in defines), os.path.join(HERE, src), "-o", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"compiling {src} failed:\n{r.stderr}")
    return out


def build_all(dest: str) -> dict[str, str]:
    out = {}
    for name in SOURCES:
        out[name] = build(f"{name}.c", os.path.join(dest, f"{name}.o"))
    out["kinds"] = build("kinds.c", os.path.join(dest, "kinds.o"), ("KIND_ALL",))
    for k in kinds():
        out[f"kind_{k.lower()}"] = build("kinds.c", os.path.join(dest, f"kind_{k.lower()}.o"), (f"KIND_{k}",))
    return out
