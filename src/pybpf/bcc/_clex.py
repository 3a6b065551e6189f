"""Just enough C lexing for the BCC rewriter: masks, brackets, argument lists.

The rewriter works on a *masked* copy of the source: comments and the insides
of string and character literals are blanked (newlines kept), so regular
expressions and bracket matching on the mask never trip over ``"a(b"`` or
``/* x.lookup( */``, and every offset in the mask is an offset in the source.
"""

from __future__ import annotations

import re
from typing import Iterator

__all__ = ["mask", "match_close", "split_args", "directive_spans", "in_spans", "line_of", "IDENT", "Conditionals"]

IDENT = r"[A-Za-z_]\w*"
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}


def mask(text: str, *, keep_strings: bool = False) -> str:
    """``text`` with comments (and literal contents unless ``keep_strings``) replaced by spaces.

    The quotes of string/char literals stay, so a literal still reads as one
    token (``"   "``); lengths and newlines are preserved exactly.
    """
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            # a line comment continues over backslash-newline
            while j < n and j > 0 and text[j - 1] == "\\":
                k = text.find("\n", j + 1)
                j = n if k < 0 else k
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        elif c == "/" and i + 1 < n and text[i + 1] == "*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if not keep_strings:
                for k in range(i + 1, min(j, n)):
                    if out[k] != "\n":
                        out[k] = " "
            i = j + 1
        else:
            i += 1
    return "".join(out)


def match_close(m: str, i: int) -> int:
    """Index of the bracket closing the one at ``m[i]`` (in a masked text); -1 if unbalanced."""
    stack = [m[i]]
    j = i + 1
    n = len(m)
    while j < n:
        c = m[j]
        if c in _OPEN:
            stack.append(c)
        elif c in _CLOSE:
            if not stack or stack[-1] != _CLOSE[c]:
                return -1
            stack.pop()
            if not stack:
                return j
        j += 1
    return -1


def split_args(m: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the top-level comma-separated arguments in ``m[start:end]`` (whitespace trimmed).

    An empty argument list gives ``[]``.
    """
    spans: list[tuple[int, int]] = []
    depth = 0
    s = start
    for j in range(start, end):
        c = m[j]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif c == "," and depth == 0:
            spans.append((s, j))
            s = j + 1
    spans.append((s, end))
    out = []
    for a, b in spans:
        while a < b and m[a].isspace():
            a += 1
        while b > a and m[b - 1].isspace():
            b -= 1
        out.append((a, b))
    if len(out) == 1 and out[0][0] == out[0][1]:
        return []
    return out


_DIRECTIVE = re.compile(r"^[ \t]*#", re.M)


def blank_spans(m: str, spans: "list[tuple[int, int]]") -> str:
    """``m`` with the characters of ``spans`` (directives) turned into blanks, newlines kept."""
    out = list(m)
    for a, b in spans:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


def directive_spans(m: str) -> list[tuple[int, int]]:
    """Spans of preprocessor directives (with their backslash-continued lines), end excluding the newline."""
    spans = []
    for d in _DIRECTIVE.finditer(m):
        j = d.start()
        while True:
            k = m.find("\n", j)
            if k < 0:
                k = len(m)
                break
            if k > 0 and m[k - 1] == "\\":
                j = k + 1
                continue
            break
        spans.append((d.start(), k))
    return spans


def in_spans(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


def line_of(text: str, pos: int) -> int:
    """1-based line number of offset ``pos``."""
    return text.count("\n", 0, pos) + 1


def top_level_braces(m: str) -> Iterator[tuple[int, int]]:
    """(open, close) of every ``{...}`` block at file scope, in order."""
    i, n = 0, len(m)
    depth = 0
    while i < n:
        c = m[i]
        if c == "{" and depth == 0:
            j = match_close(m, i)
            if j < 0:
                return
            yield i, j
            i = j + 1
            continue
        if c in "([":
            depth += 1
        elif c in ")]":
            depth = max(0, depth - 1)
        i += 1


_CONDITIONAL = re.compile(r"#\s*(if|ifdef|ifndef|elif|elifdef|elifndef|else|endif)\b")

#: Where a position sits in ``#if`` nesting: ((group, branch), ...) from the outermost ``#if``.
CondPath = tuple[tuple[int, int], ...]


class Conditionals:
    """The ``#if``/``#elif``/``#else``/``#endif`` structure of a masked source, to tell whether two
    positions are in mutually exclusive branches (so at most one of them survives preprocessing)."""

    def __init__(self, m: str, spans: list[tuple[int, int]]) -> None:
        self._starts: list[int] = [0]
        self._paths: list[CondPath] = [()]
        stack: list[tuple[int, int]] = []
        groups = 0
        for a, b in spans:
            d = _CONDITIONAL.match(m, a + len(m[a:b]) - len(m[a:b].lstrip()))
            if d is None:
                continue
            kind = d.group(1)
            if kind.startswith("if"):
                groups += 1
                stack.append((groups, 0))
            elif kind == "endif":
                if stack:
                    stack.pop()
            elif stack:
                g, br = stack[-1]
                stack[-1] = (g, br + 1)
            self._starts.append(b)
            self._paths.append(tuple(stack))

    def path(self, pos: int) -> CondPath:
        """The branches enclosing ``pos``."""
        import bisect

        return self._paths[bisect.bisect_right(self._starts, pos) - 1]

    @staticmethod
    def exclusive(p: CondPath, q: CondPath) -> bool:
        """True if paths ``p`` and ``q`` take different branches of one ``#if`` group."""
        branch = dict(p)
        return any(g in branch and branch[g] != br for g, br in q)
