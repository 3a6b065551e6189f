"""``pybpf gen``: skeleton (a *Python* skeleton module) and min_core_btf (bpftool's BTFgen)."""

from __future__ import annotations

import sys

from ..errors import Error
from ._common import Args, CLIError, Context, is_prefix, select

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from ._common import Verb

HELP = """Usage: pybpf gen skeleton FILE [name OBJECT_NAME]
       pybpf gen min_core_btf INPUT OUTPUT OBJECT [OBJECT...]
       pybpf gen help

       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} }

Note: 'gen skeleton' writes a Python module (pybpf.skeleton) instead of a C header;
      'gen object' and 'gen subskeleton' are not available in pybpf.
"""


def do_skeleton(ctx: Context, args: Args) -> int:
    args.require(1)
    path = args.next()
    name = None
    if args:
        w = args.next()
        if not is_prefix(w, "name"):
            raise CLIError(f"unknown arg {w}")
        name = args.next("an object name")
    args.done()
    try:
        from ..skeleton import main_gen_skeleton
    except ImportError:
        raise CLIError("skeleton generation needs pybpf.skeleton, which this pybpf does not have", 1) from None
    try:
        src = main_gen_skeleton(path, name)
    except FileNotFoundError:
        raise CLIError(f"failed to open BPF object file: {path}: No such file or directory") from None
    except Error as e:
        raise CLIError(f"failed to generate the skeleton of {path}: {e}") from None
    sys.stdout.write(src if src.endswith("\n") else src + "\n")
    return 0


def do_min_core_btf(ctx: Context, args: Args) -> int:
    if len(args) < 3:
        sys.stderr.write(HELP)
        raise CLIError(f"'min_core_btf' needs at least 3 arguments, {len(args)} found")
    src, out = args.next(), args.next()
    objs = list(args.words[args.i:])
    from ..btfgen import min_core_btf

    log = (lambda m: sys.stderr.write(f"pybpf: {m}\n")) if ctx.debug else None
    try:
        data = min_core_btf(src, objs, log)
    except OSError as e:
        raise CLIError(f"failed parsing '{e.filename or src}': {e.strerror}") from None
    except Error as e:
        raise CLIError(f"error recording relocations: {e}") from None
    try:
        with open(out, "wb") as f:
            f.write(data)
    except OSError as e:
        raise CLIError(f"error saving btf file: {e.strerror}") from None
    return 0


def _unsupported(what: str) -> Verb:
    def fn(ctx: Context, args: Args) -> int:
        raise CLIError(f"'gen {what}' is not available in pybpf (it makes C for libbpf); "
                       "use 'pybpf gen skeleton' for a Python skeleton", 1)
    return fn


VERBS = [("object", _unsupported("object")), ("skeleton", do_skeleton),
         ("subskeleton", _unsupported("subskeleton")), ("min_core_btf", do_min_core_btf), ("help", do_skeleton)]


def run(ctx: Context, words: list[str]) -> int:
    return select(ctx, "gen", VERBS, words, HELP)
