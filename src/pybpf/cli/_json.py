"""bpftool's JSON writer (json_writer.c), byte for byte.

Compact mode is plain JSON without spaces. Pretty mode (``-p``) has bpftool's
own layout: a newline and 4-space indent before every member name and before
a closing bracket of a non-empty container, and nothing between array
elements (``"map_ids": [3,4\\n        ]``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = ["dumps", "Raw", "quote"]


class Raw(str):
    """Pre-rendered JSON text, written as is."""

    __slots__ = ()


_ESC = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", "\b": "\\b", "\\": "\\\\", '"': '\\"'}
_NEEDS = frozenset(_ESC)


def quote(s: str) -> str:
    """A JSON string as bpftool writes it (only these escapes; other bytes go through)."""
    if _NEEDS.isdisjoint(s):
        return '"' + s + '"'
    return '"' + "".join(_ESC.get(c, c) for c in s) + '"'


class _Writer:
    __slots__ = ("out", "depth", "sep", "pretty")

    def __init__(self, pretty: bool) -> None:
        self.out: list[str] = []
        self.depth = 0
        self.sep = False
        self.pretty = pretty

    def _eol(self) -> None:
        if self.pretty:
            self.out.append("\n" + "    " * self.depth)

    def _eor(self) -> None:
        if self.sep:
            self.out.append(",")
        self.sep = True

    def value(self, v: Any) -> None:
        out = self.out
        if isinstance(v, dict):
            self._eor()
            out.append("{")
            self.depth += 1
            self.sep = False
            for k, x in v.items():
                self._eor()
                self._eol()
                self.sep = False
                out.append(quote(str(k)) + (": " if self.pretty else ":"))
                self.value(x)
            self.depth -= 1
            if self.sep:
                self._eol()
            out.append("}")
            self.sep = True
        elif isinstance(v, (list, tuple)):
            self._eor()
            out.append("[")
            self.depth += 1
            self.sep = False
            for x in v:
                self.value(x)
            self.depth -= 1
            if self.sep:
                self._eol()
            out.append("]")
            self.sep = True
        else:
            self._eor()
            if isinstance(v, Raw):
                out.append(v)
            elif v is True:
                out.append("true")
            elif v is False:
                out.append("false")
            elif v is None:
                out.append("null")
            elif isinstance(v, int):
                out.append(int.__repr__(v))
            elif isinstance(v, float):
                out.append(f"{v:g}")
            else:
                out.append(quote(str(v)))


def dumps(obj: Any, pretty: bool = False, fast: bool = False) -> str:
    """``obj`` (dicts keep their order) as bpftool's writer prints it, without the final newline.

    ``fast``: ``obj`` holds no :class:`Raw` and no control characters in strings, so compact
    output can come from the C json encoder (same text).
    """
    if fast and not pretty:
        import json

        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    w = _Writer(pretty)
    w.value(obj)
    return "".join(w.out)
