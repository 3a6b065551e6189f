"""``bcc.utils`` for BCC tools: CPU lists, bytes printing, argument strings, ``STRCMP`` rewriting.

BCC's tools import these helpers (``from bcc.utils import printb, ArgString``);
pybpf provides them under the same names so the tools run unchanged
(``python -m pybpf.bcc tool.py`` maps ``bcc`` to :mod:`pybpf.bcc`).
"""

from __future__ import annotations

import os
import re
import sys

from .._sys.cpu import online_cpus, possible_cpus

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, BinaryIO, Iterable, TextIO

__all__ = ["get_online_cpus", "get_possible_cpus", "detect_language", "printb", "ArgString", "StrcmpRewrite",
           "FILESYSTEMENCODING"]

FILESYSTEMENCODING = sys.getfilesystemencoding()


def get_online_cpus() -> list[int]:
    """The online CPU numbers (``/sys/devices/system/cpu/online``)."""
    return list(online_cpus())


def get_possible_cpus() -> list[int]:
    """The possible CPU numbers (``/sys/devices/system/cpu/possible``): per-CPU map slots."""
    return list(possible_cpus())


_LANG_LIBS = (("java", "libjvm.so"), ("ruby", "libruby"), ("python", "libpython"), ("node", "node"),
              ("perl", "libperl"), ("php", "libphp"), ("tcl", "libtcl"))


def detect_language(candidates: "Iterable[str]", pid: int) -> "str | None":
    """The runtime of process ``pid`` among ``candidates`` (java, python, ruby, node, perl, php,
    tcl), guessed from its executable name and mapped libraries, like libbcc's procutils."""
    cands = list(candidates)
    try:
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return None
    for lang in cands:
        if exe.startswith(lang):
            return lang
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
            maps = f.read()
    except OSError:
        return None
    for lang, lib in _LANG_LIBS:
        if lang in cands and lib in maps:
            return lang
    return None


def printb(s: bytes, file: "TextIO | BinaryIO" = sys.stdout, nl: int = 1) -> None:
    """Write the bytes ``s`` (and a newline unless ``nl`` is 0) to ``file``, then flush."""
    out = getattr(file, "buffer", file)
    out.write(s + b"\n" if nl else s)  # type: ignore[arg-type]
    file.flush()


class ArgString:
    """A command-line argument that converts to the bytes kernel data is compared with."""

    __slots__ = ("s",)

    def __init__(self, arg: str) -> None:
        self.s = arg

    def __bytes__(self) -> bytes:
        return self.s.encode(FILESYSTEMENCODING, "surrogateescape")

    def __str__(self) -> str:
        return self.s

    def __repr__(self) -> str:
        return f"ArgString({self.s!r})"


class StrcmpRewrite:
    """Turn ``STRCMP("literal", expr)`` in tool-generated C into calls of generated
    ``streq_N`` helpers that read ``expr`` (a char pointer) with a probe read and compare."""

    @staticmethod
    def _streq_function(literal: str, read_fn: str, fname: str) -> str:
        return f"""
static inline bool {fname}(char const *ignored, uintptr_t str) {{
        char needle[] = {literal};
        char haystack[sizeof(needle)];
        {read_fn}(&haystack, sizeof(haystack), (void *)str);
        for (int i = 0; i < sizeof(needle) - 1; ++i) {{
                if (needle[i] != haystack[i]) {{
                        return false;
                }}
        }}
        return true;
}}
"""

    @staticmethod
    def rewrite_expr(expr: str, bin_cmp: bool, is_user: bool, probe_user_list: "Iterable[str]",
                     streq_functions: str, probeid: int) -> "dict[str, Any]":
        """Rewrite every ``STRCMP`` of ``expr`` into a ``streq_N(literal, expr)`` call and
        append the helpers; returns ``{"expr", "streq_functions", "probeid"}`` as BCC does.

        ``bin_cmp``: the literal is given without quotes (they are added); ``is_user`` or an
        argument named in ``probe_user_list``: the string is user memory.
        """
        pattern = r'STRCMP\("([^"]+)\",(.+?)\)' if bin_cmp else r'STRCMP\(("[^"]+\"),(.+?)\)'
        users = set(probe_user_list)
        for m in list(re.finditer(pattern, expr)):
            literal = m.group(1)
            read_fn = "bpf_probe_read_user" if is_user or m.group(2).strip() in users else "bpf_probe_read"
            fname = f"streq_{probeid}"
            streq_functions += StrcmpRewrite._streq_function(literal, read_fn, fname)
            probeid += 1
            expr = expr.replace("STRCMP", fname, 1)
        return {"expr": expr, "streq_functions": streq_functions, "probeid": probeid}
