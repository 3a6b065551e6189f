"""``pybpf batch file FILE``: run commands from a file (or ``-`` for stdin), as bpftool does.

One command per line, without the program name; ``#`` starts a comment; a line
ending in a backslash continues on the next; words are separated by blanks and
may be quoted with ``'`` or ``"`` (no escapes inside quotes). Commands run in
order and the first failure stops the batch. Plain output ends with
``processed N commands``; with ``-j`` the whole run is one JSON array of
``{"command": [...], "output": ...}`` objects, a failing command's output
being ``{"error": "..."}``.
"""

from __future__ import annotations

import io
import sys

from ._common import Args, CLIError, Context, is_prefix, usage_error

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterator, TextIO

_WS = " \t\r\n"
_MAX_ARGS = 4096  # bpftool's BATCH_ARG_NB_MAX
_MAX_LINE = 65536  # bpftool's BATCH_LINE_LEN_MAX


def split_args(line: str, cmd_nb: int) -> list[str]:
    """bpftool's make_args(): blank-separated words, ``'..'``/``".."`` quoting, no escapes."""
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in _WS:
            i += 1
        if i >= n:
            break
        if len(words) >= _MAX_ARGS - 1:
            raise CLIError(f"too many arguments to command {cmd_nb}")
        if line[i] in "'\"":
            end = line.find(line[i], i + 1)
            if end < 0:
                raise CLIError(f"unterminated quoted string in command {cmd_nb}")
            words.append(line[i + 1:end])
        else:
            end = i
            while end < n and line[end] not in _WS:
                end += 1
            words.append(line[i:end])
        i = end + 1
    return words


def _strip_comment(line: str) -> str:
    cut = line.find("#")
    return line if cut < 0 else line[:cut]


def commands(f: "TextIO") -> "Iterator[list[str]]":
    """The commands of a batch file: comments removed, continuation lines joined, words split."""
    nb = 0
    for raw in f:
        line = _strip_comment(raw)
        if len(line) >= _MAX_LINE - 1:
            raise CLIError("reading batch file failed: Argument list too long")
        while line.endswith("\\\n"):
            cont = f.readline()
            if not cont:
                raise CLIError(f"missing continuation line on command {nb}")
            cont = _strip_comment(cont)
            if len(line) + len(cont) + 1 > _MAX_LINE:
                raise CLIError(f"command {nb} is too long")
            line = line[:-2] + cont
        words = split_args(line, nb)
        if words:
            yield words
            nb += 1


def _open(path: str) -> "TextIO":
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8", errors="surrogateescape")
    except OSError as e:
        raise CLIError(f"Can't open file ({path}): {e.strerror}") from None


def _run_one(ctx: Context, words: list[str]) -> int:
    from . import _dispatch

    if words and is_prefix(words[0], "batch"):
        raise CLIError("batch commands cannot be nested")
    return _dispatch(ctx, words)


def run(ctx: Context, words: list[str]) -> int:
    args = Args(words, "batch")
    if len(args) < 2:
        raise usage_error("too few parameters for batch")
    if not args.at("file"):
        raise usage_error(f"expected 'file', got: {args.peek()}")
    args.next()
    if len(args) > 1:
        raise usage_error("too many parameters for batch")
    f = _open(args.next())
    try:
        if ctx.json:
            return _run_json(ctx, f)
        done = 0
        for cmd in commands(f):
            rc = _run_one(ctx, cmd)
            if rc:
                return rc
            done += 1
        sys.stdout.write(f"processed {done} commands\n")
        return 0
    finally:
        if f is not sys.stdin:
            f.close()


def _run_json(ctx: Context, f: "TextIO") -> int:
    """Each command's JSON goes into one array; the first error ends it (bpftool's layout)."""
    from . import _print_error
    from ._json import Raw

    sub = Context(json=True, pretty=False, debug=ctx.debug, bpffs=ctx.bpffs, nomount=ctx.nomount)
    results: list[dict[str, Any]] = []
    rc = 0
    try:
        for cmd in commands(f):
            buf = io.StringIO()
            saved, sys.stdout = sys.stdout, buf
            try:
                rc = _run_one(sub, cmd)
            except CLIError as e:
                _print_error(sub, str(e))
                rc = e.exit_code
            except Exception as e:  # noqa: BLE001 - reported like main() does, inside the array
                from ..errors import Error

                if ctx.debug or not isinstance(e, (Error, OSError)):
                    raise
                _print_error(sub, str(e) if isinstance(e, Error) else (e.strerror or str(e)))
                rc = 1
            finally:
                sys.stdout = saved
            text = buf.getvalue().strip()
            results.append({"command": cmd, "output": _output(text, ctx.pretty, Raw)})
            if rc:
                break
    except CLIError as e:
        results.append({"error": str(e)})  # a malformed batch file: reported after what ran
        rc = e.exit_code
    ctx.emit_json(results)
    return rc


def _output(text: str, pretty: bool, raw: type) -> Any:
    """A command's compact JSON text, embedded as is (or re-laid out for ``-p``)."""
    if not text:
        return None
    if not pretty:
        return raw(text)
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text
