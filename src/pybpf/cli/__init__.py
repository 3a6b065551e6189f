"""The ``pybpf`` command: bpftool's grammar over the pybpf library.

Every verb is a thin layer over public API. Errors print one line on stderr and
exit non-zero (``-d/--debug`` shows the traceback).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable, Sequence

from .. import __version__
from ..errors import Error
from ._common import Context, CLIError, is_prefix, usage_error

OBJECTS: dict[str, str] = {  # bpftool's order: prefixes pick the first match ("p" is prog, "b" batch)
    "batch": "pybpf.cli.batch",
    "prog": "pybpf.cli.prog",
    "map": "pybpf.cli.map",
    "link": "pybpf.cli.link",
    "cgroup": "pybpf.cli.cgroup",
    "perf": "pybpf.cli.perf",
    "net": "pybpf.cli.net",
    "feature": "pybpf.cli.feature",
    "btf": "pybpf.cli.btf",
    "gen": "pybpf.cli.gen",
    "struct_ops": "pybpf.cli.struct_ops",
    "iter": "pybpf.cli.iter",
    # pybpf's own objects (after bpftool's, so bpftool's prefixes keep their meaning)
    "compile": "pybpf.cli.compile",
    "trace_pipe": "pybpf.cli.trace_pipe",
    "demo": "pybpf.cli.demo",
}

USAGE = """Usage: pybpf [OPTIONS] OBJECT { COMMAND | help }
       pybpf batch file FILE
       pybpf version
       OBJECT := { prog | map | link | cgroup | perf | net | feature | btf | gen | struct_ops | iter |
                   compile | trace_pipe | demo }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} | {-f|--bpffs} | {-n|--nomount} | {-V|--version} }
"""


def _parse_globals(argv: list[str]) -> tuple[Context, list[str]]:
    ctx = Context()
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-j", "--json"):
            ctx.json = True
        elif a in ("-p", "--pretty"):
            ctx.json = ctx.pretty = True
        elif a in ("-d", "--debug"):
            ctx.debug = True
        elif a in ("-f", "--bpffs"):
            ctx.bpffs = True
        elif a in ("-n", "--nomount"):
            ctx.nomount = True
        elif a in ("-V", "--version"):
            rest = ["version"]
            break
        elif a == "--":
            # `pybpf compile x.c -- CFLAGS`: the separator is the command's own
            rest.extend(argv[i:] if rest[:1] and is_prefix(rest[0], "compile") and rest[0] != "c" else argv[i + 1:])
            break
        elif a.startswith("-") and len(a) > 1 and not rest:
            raise usage_error(f"unknown option '{a}'")
        else:
            rest.append(a)
        i += 1
    return ctx, rest


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pybpf`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        ctx, rest = _parse_globals(args)
    except CLIError as e:
        print(f"Error: {e}", file=sys.stderr)
        return e.exit_code
    try:
        return _dispatch(ctx, rest)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except CLIError as e:
        if ctx.debug:
            raise
        _print_error(ctx, str(e))
        return e.exit_code
    except Error as e:
        if ctx.debug:
            raise
        _print_error(ctx, str(e))
        return 1
    except OSError as e:
        if ctx.debug:
            raise
        _print_error(ctx, f"{e.strerror or e}" + (f": {e.filename}" if getattr(e, "filename", None) else ""))
        return 1
    except Exception as e:  # noqa: BLE001 - a bug, still one line (the traceback with -d)
        if ctx.debug:
            raise
        _print_error(ctx, f"internal error: {type(e).__name__}: {e} (run with -d for the traceback)")
        return 1


def _print_error(ctx: Context, msg: str) -> None:
    if ctx.json:
        from ._json import dumps

        print(dumps({"error": msg}, ctx.pretty))
    else:
        print(f"Error: {msg}", file=sys.stderr)


def _dispatch(ctx: Context, rest: list[str]) -> int:
    if not rest or rest[0] in ("help", "-h", "--help"):
        print(USAGE, end="")
        return 0 if rest else 255
    obj = rest[0]
    matches = [k for k in OBJECTS if k.startswith(obj)][:1]  # bpftool: first match in table order
    if not matches and (obj == "V" or "version".startswith(obj)):
        if ctx.json:
            ctx.emit_json({"version": __version__, "features": {"libbpf_strict": False}})
        else:
            print(f"pybpf v{__version__}\nusing pybpf (pure Python, kernel {os.uname().release})")
        return 0
    if not matches:
        raise usage_error(f"unknown object '{obj}'")
    mod = __import__(OBJECTS[matches[0]], fromlist=["run"])  # cheaper to start than importlib
    run: Callable[[Context, list[str]], int] = mod.run
    return run(ctx, rest[1:])
