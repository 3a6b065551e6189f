"""Compiler diagnostics: parsing clang's output and turning errors into :class:`CompileError`.

clang reports ``file:line:column: severity: message`` lines, each followed by
the source line and a caret marker, with ``note:`` lines and ``In file
included from file:line:`` context lines around them. The driver rewrites
the scratch copy's path of a text source to the name the user gave (or
``<string>``) before parsing, so every position is in the user's coordinates.
"""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple, Optional, Sequence

from pybpf.errors import CompileError

__all__ = ["Diagnostic", "parse", "make_error", "rewrite_paths"]

_LINE = re.compile(
    r"^(?P<file>[^\n]*?):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<sev>fatal error|error|warning|note|remark): "
    r"(?P<msg>.*)$")
_TOOL = re.compile(r"^(?:(?P<tool>[\w.+-]+): )?(?P<sev>fatal error|error|warning): (?P<msg>.*)$")


class Diagnostic(NamedTuple):
    """One compiler message.

    ``severity`` is ``"error"``, ``"warning"`` or ``"note"`` (``fatal error``
    counts as ``"error"``); ``file``/``line``/``column`` are None for messages
    about the command line; ``text`` is the full message as printed, with the
    source excerpt and the notes that belong to it.
    """

    severity: str
    message: str
    file: Optional[str] = None
    line: Optional[int] = None
    column: Optional[int] = None
    text: str = ""

    def __str__(self) -> str:
        return self.text or self.location() + f"{self.severity}: {self.message}"

    def location(self) -> str:
        """``file:line:column: `` (or as much of it as is known)."""
        if self.file is None:
            return ""
        loc = f"{self.file}:{self.line}"
        return loc + (f":{self.column}: " if self.column is not None else ": ")


def rewrite_paths(output: str, mapping: dict[str, str]) -> str:
    """Replace scratch paths in compiler output by what the user knows them as."""
    for old, new in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
        if old and old != new:
            output = output.replace(old, new)
    return output


def parse(output: str) -> list[Diagnostic]:
    """Diagnostics (errors and warnings, each with its excerpt and notes) in ``output``."""
    out: list[Diagnostic] = []
    cur: Optional[dict] = None
    pending_ctx: list[str] = []  # "In file included from" lines preceding a diagnostic

    def flush() -> None:
        nonlocal cur
        if cur is not None:
            out.append(Diagnostic(cur["sev"], cur["msg"], cur["file"], cur["line"], cur["col"],
                                  "\n".join(cur["lines"]).rstrip()))
            cur = None

    for raw in output.splitlines():
        m = _LINE.match(raw)
        t = None if m else _TOOL.match(raw)
        if m or t:
            sev = (m or t).group("sev")  # type: ignore[union-attr]
            sev = "error" if sev == "fatal error" else sev
            if sev in ("note", "remark") and cur is not None:
                cur["lines"].append(raw)
                continue
            flush()
            if sev in ("note", "remark"):
                continue
            if m:
                cur = {"sev": sev, "msg": m.group("msg"), "file": m.group("file"), "line": int(m.group("line")),
                       "col": int(m.group("col")) if m.group("col") else None, "lines": pending_ctx + [raw]}
            else:
                cur = {"sev": sev, "msg": t.group("msg"), "file": None, "line": None, "col": None,  # type: ignore[union-attr]
                       "lines": [raw]}
            pending_ctx = []
        elif raw.startswith("In file included from ") or raw.startswith("                 from "):
            flush()
            pending_ctx.append(raw)
        elif re.match(r"^\d+ (errors?|warnings?)( and \d+ (errors?|warnings?))? generated\.$", raw):
            flush()
        elif cur is not None:
            cur["lines"].append(raw)
    flush()
    return out


def warnings_of(diags: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    """The warnings among ``diags``."""
    return tuple(d for d in diags if d.severity == "warning")


def make_error(output: str, command: Sequence[str], returncode: int) -> CompileError:
    """A :class:`CompileError` for a failed compile.

    ``str(err)`` starts with the first error as ``file:line:column: error: message``
    followed by its source excerpt; ``err.lineno``/``err.column``/``err.filename``
    locate it, ``err.output`` is the whole compiler output, ``err.diagnostics``
    every parsed message and ``err.warnings`` the warnings.
    """
    diags = parse(output)
    errors = [d for d in diags if d.severity == "error"]
    if errors:
        first = errors[0]
        msg = first.text
        if len(errors) > 1:
            msg += f"\n({len(errors) - 1} more error{'s' if len(errors) > 2 else ''}; see .output)"
    else:
        tail = [ln for ln in output.strip().splitlines() if ln.strip()][-5:]
        msg = f"compiler failed (exit status {returncode})" + (":\n" + "\n".join(tail) if tail else "")
        first = None
    err = CompileError(msg, lineno=first.line if first else None, output=output)
    err.column = first.column if first else None  # type: ignore[attr-defined]
    err.filename = first.file if first else None  # type: ignore[attr-defined]
    err.diagnostics = tuple(diags)  # type: ignore[attr-defined]
    err.warnings = warnings_of(diags)  # type: ignore[attr-defined]
    err.command = list(command)  # type: ignore[attr-defined]
    err.returncode = returncode  # type: ignore[attr-defined]
    return err
