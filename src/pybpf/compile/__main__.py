"""``python -m pybpf.compile prog.bpf.c [-o prog.bpf.o] [-I dir] [-D NAME[=V]] [-- cflags...]``.

Everything after ``--`` is passed to the compiler.

Also: ``--include-dir`` prints pybpf's header directory, ``--vmlinux`` writes
the generated vmlinux.h path, ``--print-command`` shows the compiler command.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from pybpf.errors import CompileError


def main(argv: Optional[list[str]] = None) -> int:
    """Command-line entry point; returns the exit status."""
    from pathlib import Path

    from . import command_line, compile, include_dir, store, vmlinux

    ap = argparse.ArgumentParser(prog="python -m pybpf.compile", description="Compile BPF C to an ELF object.")
    ap.add_argument("source", nargs="?", help="C source file")
    ap.add_argument("-o", "--output", help="object file (default: SOURCE with .c -> .o)")
    ap.add_argument("-I", dest="include", action="append", default=[], metavar="DIR")
    ap.add_argument("-D", dest="define", action="append", default=[], metavar="NAME[=VALUE]")
    ap.add_argument("--compiler", help="zig, clang or a command (default: $PYBPF_CC, clang, ziglang)")
    ap.add_argument("--arch", help="target architecture (default: this machine)")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--include-dir", action="store_true", help="print pybpf's BPF header directory")
    ap.add_argument("--vmlinux", action="store_true", help="generate vmlinux.h and print its path")
    ap.add_argument("--print-command", action="store_true", help="print the compiler command line")
    args = list(sys.argv[1:] if argv is None else argv)
    cflags = args[args.index("--") + 1:] if "--" in args else []
    a = ap.parse_args(args[:args.index("--")] if "--" in args else args)
    try:
        if a.include_dir:
            print(include_dir())
            return 0
        if a.vmlinux:
            print(f"{vmlinux.ensure_header(lambda m: print(m, file=sys.stderr))}/vmlinux.h")
            return 0
        if not a.source:
            ap.error("a source file is needed")
        if a.print_command:
            print(command_line(a.source, a.output or "out.o", compiler=a.compiler, arch=a.arch))
            return 0
        defines = dict((d.split("=", 1) + [None])[:2] for d in a.define)  # type: ignore[misc]
        obj = compile(Path(a.source), cflags=cflags, include_dirs=a.include, defines=defines,
                      compiler=a.compiler, arch=a.arch, cache=False if a.no_cache else None,
                      progress=lambda m: print(m, file=sys.stderr))
    except CompileError as e:
        out = getattr(e, "output", "")
        print(out or str(e), file=sys.stderr, end="" if out.endswith("\n") else "\n")
        return 1
    for w in obj.warnings:
        print(w, file=sys.stderr)
    src = Path(a.source)
    dest = Path(a.output) if a.output else (src.with_suffix(".o") if src.suffix == ".c" else Path(a.source + ".o"))
    if not store.atomic_write(str(dest.absolute()), bytes(obj)):
        print(f"cannot write {dest}", file=sys.stderr)
        return 1
    dest.chmod(0o644)
    return 0


if __name__ == "__main__":
    sys.exit(main())
