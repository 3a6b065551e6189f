"""``pybpf prog dump xlated|jited PROG [file FILE | opcodes | linum | visual]``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .._sys import cmds
from ..errors import BPFError
from ._common import Args, CLIError, Context, is_prefix, strerror, type_json, type_str
from ._objects import prog_fds, prog_full_name


def dump(ctx: Context, args: Args) -> int:
    mode = args.next("'xlated' or 'jited'")
    if is_prefix(mode, "jited"):
        jited = True
    elif is_prefix(mode, "xlated"):
        jited = False
    else:
        raise CLIError(f"expected 'xlated' or 'jited', got: {mode}")
    if len(args) < 2:
        raise CLIError(f"'{mode}' needs a program (id ID | pinned FILE | tag TAG | name NAME)")
    fds = prog_fds(args)
    if not fds:
        raise CLIError("no program matches this handle")
    try:
        return _dump(ctx, args, fds, jited)
    finally:
        for fd in fds:
            fd.close()


def _dump(ctx: Context, args: Args, fds: list[Any], jited: bool) -> int:
    path = None
    opcodes = visual = linum = False
    while args:
        w = args.next()
        if is_prefix(w, "file"):
            if not args:
                raise CLIError("expected file path")
            if len(fds) > 1:
                raise CLIError("several programs matched")
            path = args.next()
        elif is_prefix(w, "opcodes"):
            opcodes = True
        elif is_prefix(w, "visual") and not jited:
            if len(fds) > 1:
                raise CLIError("several programs matched")
            visual = True
        elif is_prefix(w, "linum"):
            linum = True
        else:
            raise CLIError(f"unknown argument '{w}' for 'prog dump'")
    png = bool(path and visual and path.endswith(".png"))
    if path and (opcodes or linum or (visual and not png)):
        raise CLIError("'file' is not compatible with 'opcodes', 'visual', or 'linum'")
    if ctx.json and visual:
        raise CLIError("'visual' is not compatible with JSON output")
    from ..prog_dump import fetch

    many = len(fds) > 1
    results: list[Any] = []
    texts: list[str] = []
    for n, fd in enumerate(fds):
        try:
            info = fetch(fd.fd, jited)
        except BPFError as e:
            raise CLIError(f"can't get prog info: {strerror(e)}") from None
        code = info.jited if jited else info.xlated
        if not code:
            raise CLIError("error retrieving jit dump: no instructions returned or kernel.kptr_restrict set?"
                           if jited else "error retrieving insn dump: kernel.kptr_restrict set?")
        if path and not png:
            try:
                with open(path, "wb") as f:
                    f.write(code)
            except OSError as e:
                raise CLIError(f"can't open file {path}: {strerror(e)}") from None
            if ctx.json:
                print("null")
            return 0
        body: Any
        if jited:
            from ..prog_jited import jited_json, jited_plain

            body = jited_json(info, opcodes, linum) if ctx.json else jited_plain(info, opcodes, linum)
        else:
            from ..asm import KallsymsResolver
            from ..prog_dump import Dumper

            d = Dumper(info, KallsymsResolver(jited_ksyms=info.jited_ksyms))
            if ctx.json:
                body = d.xlated_json(opcodes, linum)
            elif visual:
                body = d.xlated_dot(opcodes, linum)
            else:
                body = d.xlated_plain(opcodes, linum)
        if png:
            return _png(body, path or "")
        if ctx.json:
            if many:
                results.append({**_header_json(fd.fd), "insns": body})
            else:
                results.append(body)
        else:
            if many:
                texts.append(_header_plain(fd.fd))
            texts.append(body)
            if many and n != len(fds) - 1:
                texts.append("\n")
    if ctx.json:
        ctx.emit_json(results if many else results[0])
    else:
        sys.stdout.write("".join(texts))
    return 0


def _header_plain(fd: int) -> str:
    from .._sys.consts import ProgramType

    i = cmds.prog_info(fd)
    name = prog_full_name(i, fd)
    out = f"{i.id}: {type_str(ProgramType, i.type)}  " + (f"name {name}  " if name else "")
    out += "tag " + bytes(i.tag).hex() + ("  gpl" if i.gpl_compatible else "")
    if i.run_time_ns:
        out += f" run_time_ns {i.run_time_ns} run_cnt {i.run_cnt}"
    if i.recursion_misses:
        out += f" recursion_misses {i.recursion_misses}"
    return out + "\n"


def _header_json(fd: int) -> dict[str, Any]:
    from .._sys.consts import ProgramType

    i = cmds.prog_info(fd)
    o: dict[str, Any] = {"id": int(i.id), "type": type_json(ProgramType, i.type)}
    if i.name[:1]:
        o["name"] = prog_full_name(i, fd)
    o["tag"] = bytes(i.tag).hex()
    o["gpl_compatible"] = bool(i.gpl_compatible)
    if i.run_time_ns:
        o["run_time_ns"], o["run_cnt"] = int(i.run_time_ns), int(i.run_cnt)
    if i.recursion_misses:
        o["recursion_misses"] = int(i.recursion_misses)
    return o


def _png(dot_text: str, path: str) -> int:
    """``visual file X.png``: render with Graphviz ``dot`` (a pybpf extension)."""
    exe = shutil.which("dot")
    if exe is None:
        raise CLIError("writing a PNG needs Graphviz 'dot' (apt-get install graphviz); "
                       "without 'file', 'visual' prints the DOT text")
    r = subprocess.run([exe, "-Tpng", "-o", path], input=dot_text.encode(), capture_output=True)
    if r.returncode != 0:
        raise CLIError(f"dot failed: {r.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
    if not os.path.exists(path):
        raise CLIError(f"dot wrote no {path}")
    return 0
