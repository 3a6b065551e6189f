"""The common shape of fd-holding kernel objects (maps and programs)."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from ._sys import cmds
from ._sys.syscall import FD

K = TypeVar("K", bound="KernelObject")


class KernelObject:
    """Owns one :class:`FD` to a BPF map or program (``_KIND`` is ``"map"`` or ``"prog"``).

    Subclasses provide ``from_fd``; this base gives ``fd``/``fileno``/``id``, ``from_id``,
    ``from_pin``, ``pin``/``unpin``, ``close`` and the context-manager protocol.
    """

    _KIND = ""
    _fd: FD
    _id: int | None

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

    @property
    def fd(self) -> int:
        """The raw file descriptor number."""
        return self._fd.fd

    def fileno(self) -> int:
        return self._fd.fd

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

    def pin(self, path: str) -> None:
        """Pin on bpffs (mounting /sys/fs/bpf if needed). Minimum kernel 4.4."""
        from ._sys.fs import ensure_bpffs_for

        ensure_bpffs_for(path)
        cmds.obj_pin(self.fd, path)

    @staticmethod
    def unpin(path: str) -> None:
        """Remove a pin (the object lives on while other references exist)."""
        os.unlink(path)

    def close(self) -> None:
        """Release the fd; the kernel frees the object when nothing else holds it."""
        self._fd.close()

    def __enter__(self: K) -> K:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
