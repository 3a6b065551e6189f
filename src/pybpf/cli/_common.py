"""Shared CLI plumbing: global options, errors, bpftool's argument grammar, JSON output."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Sequence


class Context:
    """Global options (bpftool's -j/-p/-d/-f/-n). (A plain class: dataclasses costs ~4 ms of import.)"""

    __slots__ = ("json", "pretty", "debug", "bpffs", "nomount")

    def __init__(self, json: bool = False, pretty: bool = False, debug: bool = False, bpffs: bool = False,
                 nomount: bool = False) -> None:
        self.json, self.pretty, self.debug, self.bpffs, self.nomount = json, pretty, debug, bpffs, nomount

    def __repr__(self) -> str:
        return "Context(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"

    def emit_json(self, obj: Any, fast: bool = False) -> None:
        """Print ``obj`` as bpftool's JSON writer would (its pretty layout with -p);
        ``fast``: no :class:`~pybpf.cli._json.Raw` values inside (C encoder for compact output)."""
        from ._json import dumps

        sys.stdout.write(dumps(obj, self.pretty, fast) + "\n")


class CLIError(Exception):
    """A user error on the command line: one line on stderr, exit code like bpftool's (255)."""

    def __init__(self, msg: str, exit_code: int = 255) -> None:
        super().__init__(msg)
        self.exit_code = exit_code


def usage_error(msg: str) -> CLIError:
    return CLIError(msg, 255)


def need_root(what: str) -> None:
    import os

    if os.geteuid() != 0:
        raise CLIError(f"{what} needs root (CAP_BPF/CAP_SYS_ADMIN); run it with sudo", 1)


# ----------------------------------------------------------------------------- grammar
def is_prefix(pfx: str, word: str) -> bool:
    """bpftool's is_prefix(): ``pfx`` is a non-empty prefix of ``word``."""
    return bool(pfx) and word.startswith(pfx)


class Args:
    """A cursor over the words after the verb (bpftool's argc/argv with NEXT_ARG/REQ_ARGS)."""

    def __init__(self, words: Sequence[str], verb: str = "") -> None:
        self.words = list(words)
        self.i = 0
        self.verb = verb

    def __len__(self) -> int:
        return len(self.words) - self.i

    def __bool__(self) -> bool:
        return self.i < len(self.words)

    def peek(self) -> str:
        return self.words[self.i] if self.i < len(self.words) else ""

    def at(self, word: str) -> bool:
        """The next word is a prefix of ``word``."""
        return self.i < len(self.words) and is_prefix(self.words[self.i], word)

    def next(self, what: str = "") -> str:
        if self.i >= len(self.words):
            prev = self.words[self.i - 1] if self.i else self.verb
            raise usage_error(f"'{prev}' needs {what or 'an argument'}")
        w = self.words[self.i]
        self.i += 1
        return w

    def require(self, n: int) -> None:
        """bpftool's REQ_ARGS(n)."""
        if len(self) < n:
            prev = self.words[self.i - 1] if self.i else self.verb
            raise usage_error(f"'{prev}' needs at least {n} arguments, {len(self)} found")

    def done(self) -> None:
        """No words may remain (bpftool's BAD_ARG: ``what is 'X'?``)."""
        if self:
            raise usage_error(f"what is '{self.peek()}'?")


if TYPE_CHECKING:  # pragma: no cover
    Verb = Callable[[Context, Args], int]


def select(ctx: Context, obj: str, verbs: Sequence[tuple[str, Verb]], words: list[str], help_text: str) -> int:
    """bpftool's cmd_select(): the first verb (in table order) that the word prefixes; no word: the first."""
    if not words:  # bpftool runs the first verb; its messages name the object ("'cgroup' needs ...")
        return verbs[0][1](ctx, Args([], obj))
    w = words[0]
    if is_prefix(w, "help"):
        if ctx.json:
            print("null")
        else:
            sys.stderr.write(help_text)
        return 0
    for name, fn in verbs:
        if is_prefix(w, name):
            return fn(ctx, Args(words[1:], name))
    raise usage_error(f"unknown command '{w}' for '{obj}' (see 'pybpf {obj} help')")


def strtoul(s: str, what: str) -> int:
    """C strtoul(s, &end, 0) requiring the whole word: 0x.. hex, 0.. octal, else decimal."""
    t = s.strip()
    try:
        if t[:2].lower() == "0x":
            return int(t[2:], 16)
        if len(t) > 1 and t[0] == "0":
            return int(t[1:], 8)
        v = int(t, 10)
        if v < 0:
            raise ValueError
        return v
    except (ValueError, IndexError):
        raise usage_error(f"can't parse {s} as {what}") from None


def type_str(enum_cls: Any, value: int, prefix: str = "type ") -> str:
    """libbpf's *_type_str(): the lower-case enum name, or ``type N`` for unknown values."""
    try:
        return str(enum_cls(value).name.lower())
    except ValueError:
        return f"{prefix}{value}"


def type_json(enum_cls: Any, value: int) -> "str | int":
    try:
        return str(enum_cls(value).name.lower())
    except ValueError:
        return int(value)


def strerror(e: BaseException) -> str:
    """The C strerror() text of an OSError-like exception."""
    import os

    n = getattr(e, "errno", None)
    return os.strerror(n) if isinstance(n, int) and n > 0 else str(e)
