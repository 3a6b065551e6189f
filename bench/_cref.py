"""Shared plumbing of the bench scripts: building their C references (cached by
source + command hash under bench/_build/), reporting the libbpf version, and
failing with one line that says what to install."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
BUILD = HERE / "_build"
INSTALL_HINT = "install a C compiler, clang and libbpf headers, e.g.: sudo apt-get install gcc clang-19 libbpf-dev"


def die(msg: str, code: int = 2) -> None:
    """One line on stderr naming the script, then exit (2: environment problem)."""
    print(f"bench/{Path(sys.argv[0]).name}: {msg}", file=sys.stderr)
    sys.exit(code)


def cached_build(name: str, src: Path, cmd: Callable[[Path], list[str]], what: str) -> Path:
    """Run ``cmd(output)`` once per (source, command) and return the output path."""
    data = src.read_bytes() + " ".join(cmd(Path("OUT"))).encode()
    out = BUILD / f"{name}-{hashlib.sha256(data).hexdigest()[:12]}"
    if out.exists():
        return out
    BUILD.mkdir(exist_ok=True)
    tmp = out.with_suffix(".tmp")
    r = subprocess.run(cmd(tmp), capture_output=True, text=True)
    if r.returncode != 0:
        err = r.stderr.strip()
        if "bpf/" in err and ("No such file" in err or "not found" in err) or "-lbpf" in err:
            die(f"libbpf development files missing ({err.splitlines()[0]}); {INSTALL_HINT}")
        die(f"building the {what} failed ({' '.join(cmd(tmp))}):\n{err}\n{INSTALL_HINT}")
    tmp.replace(out)
    return out


def build_libbpf_ref(src: Path, name: str, extra_libs: tuple[str, ...] = ()) -> Path:
    """Compile a libbpf C reference program with the system compiler (``$CC``, cc or gcc)."""
    cc = shutil.which(os.environ.get("CC") or "cc") or shutil.which("gcc")
    if not cc:
        die(f"no C compiler found (needed for the libbpf reference); {INSTALL_HINT}")
    return cached_build(name, src, lambda o: [cc, "-O2", "-Wall", "-o", str(o), str(src), "-lbpf", *extra_libs],
                        "libbpf reference")


def libbpf_version() -> str:
    """The installed libbpf-dev version (from libbpf_version.h), or '?'."""
    try:
        txt = Path("/usr/include/bpf/libbpf_version.h").read_text()
        nums = [ln.split()[-1] for ln in txt.splitlines() if ln.startswith("#define LIBBPF_M")]
        return ".".join(nums[:2])
    except OSError:
        return "?"
