"""The pybpf exception hierarchy.

Every error pybpf raises derives from :class:`Error`. Syscall failures are
:class:`BPFError` (with ``errno``, the bpf command and a hint), verifier
rejections are :class:`VerifierError`, missing kernel facilities are
:class:`NotSupportedError`.
"""

from __future__ import annotations

import errno as _errno
import os


class Error(Exception):
    """Root of every exception pybpf raises."""


ENOTSUPP = 524  # kernel-internal "not supported" errno that bpf(2) leaks to user space


class BPFError(Error, OSError):
    """A bpf(2) (or related syscall) failure.

    ``errno`` is the kernel's error number, ``command`` names the failing
    command (e.g. ``"MAP_CREATE"``) and ``hint`` says what to do about it.
    """

    def __init__(self, err: int, command: str, hint: str = "") -> None:
        self.command = command
        self.hint = hint
        if err == ENOTSUPP:
            msg = f"{command}: Operation not supported (ENOTSUPP)"
        else:
            msg = f"{command}: {os.strerror(err)} ({_errno.errorcode.get(err, err)})"
        if hint:
            msg += f": {hint}"
        OSError.__init__(self, err, msg)

    def __str__(self) -> str:  # OSError formats as "[Errno N] msg"; keep ours
        return str(self.args[1])


class PermissionError_(BPFError):
    """EPERM/EACCES from the kernel: a capability is missing."""


class NotFoundError(BPFError):
    """ENOENT: key or object not found."""


class ClosedError(Error, ValueError):
    """An operation on a closed object; the message names it ("program 'x' is closed").

    Also a :class:`ValueError`, as operations on closed Python files are.
    """


class NotSupportedError(Error):
    """The running kernel lacks a feature; the message names it (and the minimum kernel)."""

    def __init__(self, feature: str, detail: str = "") -> None:
        self.feature = feature
        self.detail = detail
        super().__init__(f"{feature} not supported by this kernel" + (f": {detail}" if detail else ""))


class VerifierError(Error):
    """The verifier rejected a program.

    ``str(err)`` is a one-line summary (the verifier's last meaningful line);
    ``err.log`` is the full verifier log, ``err.errno`` the load errno.
    """

    def __init__(self, program: str, err: int, log: str, truncated: bool = False) -> None:
        self.program = program
        self.errno = err
        self.log = log
        self.truncated = truncated
        self.summary = _summarize_log(log)
        base = f"load program {program!r}: {os.strerror(err)}"
        super().__init__(f"{base}: {self.summary}" if self.summary else base)

    def tail(self, n: int = 20) -> str:
        """The last ``n`` lines of the verifier log."""
        return "\n".join(self.log.rstrip("\n").splitlines()[-n:])


_NOISE_PREFIXES = ("processed ", "verification time", "stack depth", "max_states_per_insn", "mark_precise",
                   "cur state:", "old state:", ";")  # state dumps after "infinite loop", source-line notes


def _summarize_log(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith(_NOISE_PREFIXES) or ln.startswith("-- END PROG LOAD LOG --"):
            continue
        return ln
    return ""


class StructOpsError(Error):
    """A struct_ops variable does not fit the kernel's struct (a member the kernel lacks holds
    data, sizes or kinds differ, a function pointer names no struct_ops program...).

    ``map`` is the struct_ops map (variable) name, ``member`` the offending member or "".
    """

    def __init__(self, map_name: str, member: str, message: str) -> None:
        self.map = map_name
        self.member = member
        where = f"struct_ops {map_name!r}" + (f" member {member!r}" if member else "")
        super().__init__(f"{where}: {message}")


class FormatError(Error):
    """Malformed input (ELF, BTF, assembler text, instruction bytes)."""


class BTFError(FormatError):
    """Malformed or unsupported BTF."""


class ELFError(FormatError):
    """Malformed or unsupported ELF object."""


class AssemblerError(FormatError):
    """Assembler text or instruction encoding error."""


class CompileError(Error):
    """The C compiler rejected a source file."""

    def __init__(self, message: str, lineno: int | None = None, output: str = "") -> None:
        self.lineno = lineno
        self.output = output
        super().__init__(message)
