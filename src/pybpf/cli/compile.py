"""``pybpf compile x.bpf.c [-o x.bpf.o] [-I DIR] [-D NAME[=V]] [-- CFLAGS...]`` (pybpf's own).

Compiles BPF C with :func:`pybpf.compile.compile` (pybpf's headers, a
generated ``vmlinux.h``, cached results). Diagnostics go to stderr in the
compiler's ``file:line:col: error: ...`` form; a failed compile exits 1.
"""

from __future__ import annotations

import sys

from ._common import CLIError, Context

HELP = """Usage: pybpf compile SOURCE.c [-o OUTPUT.o] [-I DIR] [-D NAME[=VALUE]] [--compiler CC] [--arch ARCH]
                     [--no-cache] [-- CFLAGS...]
       pybpf compile --include-dir | --vmlinux
       pybpf compile help

       Compiles BPF C to an object file (default OUTPUT: SOURCE with .c -> .o).
       Everything after '--' goes to the compiler.
"""


def run(ctx: Context, words: list[str]) -> int:
    if not words or words[0] in ("help", "-h", "--help"):
        sys.stderr.write(HELP)
        return 0 if words else 255
    try:
        from ..compile.__main__ import main
    except ImportError:
        raise CLIError("compiling needs pybpf.compile, which this pybpf does not have", 1) from None
    try:
        return main(list(words))
    except SystemExit as e:  # argparse usage errors
        code = e.code if isinstance(e.code, int) else 1
        return code if code else 0
