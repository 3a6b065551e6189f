"""``pybpf iter pin OBJ PATH [map MAP]``: load an iterator object and pin its link (bpftool's grammar)."""

from __future__ import annotations

import sys

from ..errors import Error
from ._common import Args, CLIError, Context, is_prefix, select
from ._objects import BPF_F_RDONLY, map_fd

HELP = """Usage: pybpf iter pin OBJ PATH [map MAP]
       pybpf iter help

       MAP := { id MAP_ID | pinned FILE | name MAP_NAME }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} }
"""


def do_help(ctx: Context, args: Args) -> int:
    sys.stderr.write(HELP)
    return 0


def do_pin(ctx: Context, args: Args) -> int:
    import pybpf

    if len(args) < 2:
        sys.stderr.write(HELP)
        return 255
    objfile, path = args.next(), args.next()
    mfd = None
    if args and is_prefix(args.peek(), "map"):
        args.next()
        if len(args) < 2:
            raise CLIError("incorrect map spec")
        mfd = map_fd(args, BPF_F_RDONLY)
    log = (lambda m: sys.stderr.write(f"pybpf: {m}\n")) if ctx.debug else None
    try:
        try:
            spec = pybpf.open(objfile, log=log)
        except (Error, OSError):
            raise CLIError(f"can't open objfile {objfile}") from None
        try:
            obj = spec.load(log=log)
        except (Error, OSError) as e:
            raise CLIError(f"can't load objfile {objfile}" + (f": {e}" if str(e) else "")) from None
        with obj:
            prog = next(iter(obj.programs.values()), None)
            if prog is None:
                raise CLIError(f"can't find bpf program in objfile {objfile}")
            from ..links.iter import attach_iter

            try:
                link = attach_iter(prog, mfd.fd if mfd is not None else None)
            except (Error, OSError) as e:
                raise CLIError(f"attach_iter failed for program {prog.name}: {e}") from None
            with link:
                from .prog_load import _mount_for_file

                _mount_for_file(ctx, path)
                try:
                    link.pin(path)
                except (Error, OSError):
                    raise CLIError(f"pin_iter failed for program {prog.name} to path {path}") from None
    finally:
        if mfd is not None:
            mfd.close()
    return 0


VERBS = [("help", do_help), ("pin", do_pin)]


def run(ctx: Context, words: list[str]) -> int:
    return select(ctx, "iter", VERBS, words, HELP)
