"""The common shape of fd-holding kernel objects (maps and programs), and pin removal."""

from __future__ import annotations

import errno
import os
from typing import Any, Callable, TypeVar, overload

from ._sys import cmds
from ._sys.syscall import FD
from .errors import BPFError, ClosedError, Error, NotFoundError

K = TypeVar("K", bound="KernelObject")

_NOUN = {"prog": "program", "map": "map", "link": "link"}


def unpin_path(path: str) -> None:
    """Remove the bpffs pin at ``path`` (the object lives on while other references exist).

    Raises :class:`~pybpf.errors.NotFoundError` if nothing is there, :class:`~pybpf.errors.Error`
    if ``path`` is not on a BPF filesystem (nothing is removed) and
    :class:`~pybpf.errors.BPFError` for other failures. Minimum kernel 4.4.
    """
    from ._sys.fs import BPF_FS_MAGIC, fs_magic

    if not os.path.lexists(path):
        raise NotFoundError(errno.ENOENT, f"unpin {path}", "nothing is pinned there")
    if fs_magic(path) != BPF_FS_MAGIC:
        raise Error(f"unpin {path}: not on a BPF filesystem (a pin lives on bpffs); nothing removed")
    try:
        os.unlink(path)
    except FileNotFoundError:
        raise NotFoundError(errno.ENOENT, f"unpin {path}", "nothing is pinned there") from None
    except OSError as e:
        raise BPFError(e.errno or errno.EIO, f"unpin {path}",
                       "run as root" if e.errno in (errno.EPERM, errno.EACCES) else
                       "a directory, not a pin" if e.errno in (errno.EISDIR, errno.ENOTEMPTY) else "") from None


class _Unpin:
    """``obj.unpin()`` removes the pin made by ``obj.pin()``; ``obj.unpin(path)`` / ``Cls.unpin(path)``
    remove the pin at ``path`` (the class-level form is kept for compatibility)."""

    @overload
    def __get__(self, obj: None, owner: type) -> Callable[[str], None]: ...

    @overload
    def __get__(self, obj: "KernelObject", owner: type) -> Callable[..., None]: ...

    def __get__(self, obj: "KernelObject | None", owner: type | None = None) -> Callable[..., None]:
        if obj is None:
            return unpin_path

        def unpin(path: str | None = None) -> None:
            """Remove the pin made by :meth:`pin` (no-op if none), or the pin at ``path``."""
            obj._unpin(path)
        return unpin


class KernelObject:
    """Owns one :class:`FD` to a BPF map or program (``_KIND`` is ``"map"`` or ``"prog"``).

    Subclasses provide ``from_fd``; this base gives ``fd``/``fileno``/``id``, ``from_id``,
    ``from_pin``, ``pin``/``unpin``/``pinned_path``, ``close`` and the context-manager protocol.
    """

    _KIND = ""
    _fd: FD
    _id: int | None
    _pinned: str | None = None

    @classmethod
    def from_fd(cls: type[K], fd: FD | int) -> K:  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def from_id(cls: type[K], obj_id: int) -> K:
        """Open the object with kernel id ``obj_id`` (BPF_*_GET_FD_BY_ID, 4.13+)."""
        return cls.from_fd(cmds.fd_by_id(cls._KIND, obj_id))

    @classmethod
    def from_pin(cls: type[K], path: str) -> K:
        """Open an object pinned on bpffs (BPF_OBJ_GET, 4.4+); it must be of this kind."""
        return cls.from_fd(cmds.obj_get_kind(path, cls._KIND))

    def _closed_error(self) -> ClosedError:
        name = getattr(self, "name", "")
        noun = _NOUN.get(self._KIND, "object")
        return ClosedError(f"{noun} {name!r} is closed" if name else f"{noun} is closed")

    @property
    def fd(self) -> int:
        """The raw file descriptor number (:class:`~pybpf.errors.ClosedError` once closed)."""
        if self._fd.closed:
            raise self._closed_error()
        return self._fd.fd

    def fileno(self) -> int:
        """The raw file descriptor number, for ``select``/``os`` calls (same as :attr:`fd`)."""
        return self.fd

    @property
    def closed(self) -> bool:
        return self._fd.closed

    @property
    def id(self) -> int:
        """The kernel's id of this object."""
        if self._id is None:
            info: Any = cmds.map_info(self.fd) if self._KIND == "map" else cmds.prog_info(self.fd)
            self._id = int(info.id)
        return self._id

    @property
    def pinned_path(self) -> str | None:
        """Where :meth:`pin` put this object (None if this object did not pin it)."""
        return self._pinned

    def pin(self, path: str) -> None:
        """Pin on bpffs (mounting /sys/fs/bpf if needed); :meth:`unpin` removes it. Minimum kernel 4.4."""
        from ._sys.fs import ensure_bpffs_for

        fd = self.fd
        ensure_bpffs_for(path)
        cmds.obj_pin(fd, path)
        self._pinned = path

    unpin = _Unpin()

    def _unpin(self, path: str | None) -> None:
        if path is None:
            path = self._pinned
            if path is None:
                return
            self._pinned = None
            if not os.path.lexists(path):
                return  # removed behind our back: nothing left to do (as Link.unpin)
        unpin_path(path)
        if path == self._pinned:
            self._pinned = None

    def close(self) -> None:
        """Release the fd; the kernel frees the object when nothing else holds it (pins stay)."""
        self._fd.close()

    def __enter__(self: K) -> K:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
