"""Run a BCC tool unchanged on pybpf: ``python -m pybpf.bcc TOOL [ARGS...]``.

The tool's ``import bcc`` / ``from bcc.utils import printb`` resolve to
:mod:`pybpf.bcc` and its modules, so scripts written for BCC (its ``tools/``
directory, the book's examples) run on machines without kernel headers or
LLVM. ``TOOL`` is a path, or a name looked up on ``PATH`` and in BCC's usual
tool directories. A :class:`pybpf.errors.Error` the tool does not handle (a
kernel without kprobes, a verifier rejection) ends it with a one-line message
and exit status 1.
"""

from __future__ import annotations

import os
import runpy
import shutil
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Sequence

__all__ = ["install_bcc_alias", "find_tool", "main"]

#: BCC's Python modules and their pybpf counterparts
ALIASES = {"bcc": "pybpf.bcc", "bcc.utils": "pybpf.bcc.utils", "bcc.syscall": "pybpf.bcc.syscall",
           "bcc.containers": "pybpf.bcc.containers", "bcc.exec": "pybpf.bcc.exec", "bcc.tcp": "pybpf.bcc.tcp",
           "bcc.table": "pybpf.bcc.table", "bcc.perf": "pybpf.bcc.perf", "bcc.usdt": "pybpf.bcc.usdt"}
_TOOL_DIRS = ("/usr/share/bcc/tools", "/usr/sbin", "/usr/local/share/bcc/tools")


def install_bcc_alias() -> None:
    """Make ``import bcc`` (and its submodules) import pybpf's BCC front end."""
    import importlib

    for name, target in ALIASES.items():
        sys.modules[name] = importlib.import_module(target)


def find_tool(name: str) -> "str | None":
    """``name`` as a file, else found on ``PATH`` or in BCC's tool directories."""
    if os.path.sep in name or os.path.isfile(name):
        return name if os.path.isfile(name) else None
    found = shutil.which(name)
    if found:
        return found
    for d in _TOOL_DIRS:
        for cand in (os.path.join(d, name), os.path.join(d, name + ".py"), os.path.join(d, name + "-bpfcc")):
            if os.path.isfile(cand):
                return cand
    return None


def main(argv: "Sequence[str] | None" = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m pybpf.bcc TOOL [ARGS...]   (run a BCC tool script on pybpf)")
        return 0 if args else 2
    tool = find_tool(args[0])
    if tool is None:
        print(f"pybpf.bcc: no such tool: {args[0]}", file=sys.stderr)
        return 2
    install_bcc_alias()
    from ..errors import Error

    sys.argv = [tool, *args[1:]]
    try:
        runpy.run_path(tool, run_name="__main__")
    except SystemExit as e:
        code = e.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Error as e:  # pybpf's errors say what is wrong (missing kernel facility, verifier, compiler)
        print(f"{os.path.basename(tool)}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
