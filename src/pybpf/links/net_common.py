"""Shared pieces of the network attach modules (:mod:`pybpf.links.net`, :mod:`.net_sock`).

* :class:`Attachment` — the base of program attachments that are *not* a
  bpf_link (netlink XDP, cls_bpf filters, PROG_ATTACH hooks, socket filters):
  ``close()``/``detach()`` remove the program from the hook, ``info()`` reports
  the hook's view, ``pin()`` raises :class:`NotSupportedError`.
* helpers to infer attach types from a program's ``SEC()`` name, build
  LINK_CREATE attrs and turn errno values into actionable errors.
"""

from __future__ import annotations

import errno
import os
from typing import Any, Iterable

from .._sys import cmds
from .._sys.attrs import LinkCreateAttr
from .._sys.consts import AttachType, ProgramType
from .._sys.syscall import FD, _kernel_version
from ..errors import BPFError, Error, NotFoundError, NotSupportedError, PermissionError_
from .link import Link, prog_fd_of

__all__ = ["Attachment", "ENOTSUPP", "prog_type_of", "check_prog_type", "section_attach_type", "prog_id_of",
           "dup_prog_fd", "link_create", "reraise", "kernel_at_least", "FALLBACK_ERRNOS"]

ENOTSUPP = 524
# errno values with which LINK_CREATE says "this kernel has no link for that hook" (fall back to the legacy API).
FALLBACK_ERRNOS = frozenset({errno.EINVAL, errno.EOPNOTSUPP, ENOTSUPP, errno.ENOSYS})


def kernel_at_least(major: int, minor: int) -> bool:
    """Whether the running kernel is at least ``major.minor`` (uname release)."""
    return _kernel_version() >= (major, minor)


def prog_type_of(prog: Any) -> ProgramType | int | None:
    """The program type of a :class:`pybpf.Program` (None for a bare fd)."""
    t = getattr(prog, "type", None)
    if t is None and isinstance(prog, int):
        try:
            t = int(cmds.prog_info(prog).type)
        except BPFError:
            return None
    if t is None:
        return None
    try:
        return ProgramType(int(t))
    except ValueError:
        return int(t)


def _type_name(t: object) -> str:
    return t.name if isinstance(t, ProgramType) else str(t)


def check_prog_type(prog: Any, allowed: Iterable[ProgramType], what: str) -> None:
    """Raise :class:`Error` when ``prog``'s type is known and not one of ``allowed``."""
    allowed = tuple(allowed)
    t = prog_type_of(prog)
    if t is not None and t not in allowed:
        want = " or ".join(a.name for a in allowed)
        raise Error(f"{what} needs a {want} program, got {_type_name(t)}"
                    + (f" ({getattr(prog, 'name', '')!r})" if getattr(prog, "name", "") else ""))


def section_attach_type(prog: Any) -> AttachType | int | None:
    """The attach type a program's spec implies: its SEC() name (libbpf's table), else a non-zero
    ``expected_attach_type``; None when unknown (e.g. programs opened by id or fd)."""
    spec = getattr(prog, "spec", None)
    if spec is None:
        return None
    sec = (getattr(spec, "section", "") or "").lstrip("?")
    if sec:
        try:
            from ..elf.sections import find_sec_def
        except ImportError:  # pragma: no cover - loader package absent
            find_sec_def = None  # type: ignore[assignment]
        if find_sec_def is not None:
            d = find_sec_def(sec)
            if d is not None and (d.attach_type or d.sec == "cgroup_skb/ingress"):  # INET_INGRESS is 0
                return d.attach_type
    eat = int(getattr(spec, "expected_attach_type", 0) or 0)
    if eat:
        try:
            return AttachType(eat)
        except ValueError:
            return eat
    return None


def prog_id_of(prog: Any) -> int:
    """The kernel id of a Program (or program fd); 0 if it cannot be read."""
    try:
        if isinstance(prog, int):
            return int(cmds.prog_info(prog).id)
        return int(prog.id)
    except (BPFError, AttributeError, ValueError):
        return 0


def dup_prog_fd(prog: Any) -> FD:
    """An owned duplicate of the program's fd (keeps the program alive while attached)."""
    import fcntl

    return FD(fcntl.fcntl(prog_fd_of(prog), fcntl.F_DUPFD_CLOEXEC, 3))


def reraise(e: BPFError, hint: str, command: str | None = None) -> BPFError:
    """A copy of ``e`` (same class and errno) with a better ``hint`` (a netlink extack message is kept)."""
    cls = type(e) if type(e) in (BPFError, PermissionError_, NotFoundError) else BPFError
    if hint and e.hint and e.command.startswith("RTM_") and e.hint not in hint:
        hint = f"{e.hint}; {hint}"
    return cls(e.errno or 0, command or e.command, hint or e.hint)


def link_create(prog_fd: int, target: int, attach_type: int, flags: int = 0, **union: Any) -> FD:
    """BPF_LINK_CREATE with ``union`` naming one member: ``tcx={...}``, ``netfilter={...}``, ``cgroup={...}``."""
    attr = LinkCreateAttr(prog_fd=prog_fd, target_fd=target, attach_type=int(attach_type), flags=flags)
    for member, fields in union.items():
        sub = getattr(attr, member)
        for k, v in fields.items():
            setattr(sub, k, v)
    return cmds.link_create(attr)


class Attachment(Link):
    """A program attached through a legacy (non-bpf_link) API; Link-like.

    ``close()`` (or leaving the ``with`` block, or :meth:`detach`) removes the
    program from the hook — unlike a bpf_link, nothing can keep it attached
    after this object lets go, and :meth:`pin` is not available. ``info()``
    returns the hook's own description (subclass-specific), ``prog_id`` the
    attached program's id.
    """

    def __init__(self, *, kind: str, target: str, program: Any, owned: Iterable[FD] = (),
                 hold_prog: bool = False) -> None:
        super().__init__(None, kind=kind, target=target, program=program)
        self._prog_id = prog_id_of(program) if program is not None else 0
        self._owned = [f for f in owned if f is not None]
        # A dup of the program fd when the detach call needs it (PROG_DETACH, XDP expected fd).
        self._prog_fd: FD | None = dup_prog_fd(program) if hold_prog else None

    def _swap_prog(self, new_program: Any) -> None:
        """After an in-place update: hold ``new_program`` instead."""
        if self._prog_fd is not None:
            self._prog_fd.close()
            self._prog_fd = dup_prog_fd(new_program)
        self._prog_id = prog_id_of(new_program)

    @property
    def is_bpf_link(self) -> bool:
        return False

    def pin(self, path: str) -> None:
        raise NotSupportedError(f"pinning a {self.kind} attachment",
                                "it is not a bpf_link; pin the program instead (prog.pin(path)) and re-attach it")

    def info(self) -> Any:  # pragma: no cover - overridden
        raise NotSupportedError(f"info() of a {self.kind} attachment")

    def _detach(self) -> None:
        """Remove the program from the hook (subclass hook; tolerate 'already gone')."""

    def _disown(self) -> None:
        """Release this object's resources *without* detaching (its program was replaced)."""
        self._superseded = True
        self.close()

    def _release(self) -> None:
        try:
            if not getattr(self, "_superseded", False):
                self._detach()
        finally:
            for f in self._owned + ([self._prog_fd] if self._prog_fd is not None else []):
                f.close()
            self._owned = []

    def __repr__(self) -> str:
        desc = " ".join(x for x in (self.kind, self.target) if x)
        state = "detached" if self._released else f"prog_id={self._prog_id}"
        return f"<{type(self).__name__} {desc} {state}>"


def netns_ino(fd: int) -> int:
    """The inode number identifying the network namespace behind ``fd``."""
    return os.fstat(fd).st_ino
