"""Registering struct_ops maps: :func:`attach_struct_ops` and :class:`StructOpsLink`.

A struct_ops map (``SEC(".struct_ops")`` / ``SEC(".struct_ops.link")`` variable, loaded
as a :class:`~pybpf.object_structops.StructOpsMap`) implements a kernel interface such as
``tcp_congestion_ops`` with BPF programs. Registering it is libbpf's
``bpf_map__attach_struct_ops()``:

* write the value (``struct bpf_struct_ops_<type>``, program fds in the function
  pointers) as element 0 (MAP_UPDATE_ELEM). A plain map (5.6+) is registered right
  away and stays registered until element 0 is deleted, even after every fd is closed;
  the returned :class:`StructOpsLink` has no bpf_link and deletes it on close/detach;
* for a ``BPF_F_LINK`` map (6.4+) the update only prepares the value; a bpf_link
  (LINK_CREATE, attach type ``BPF_STRUCT_OPS``, the map fd as program) registers it and
  closing the last reference to the link unregisters it. :meth:`StructOpsLink.update_map`
  swaps the map behind the link (BPF_LINK_UPDATE, 6.4+), ``detach()`` is
  BPF_LINK_DETACH (6.10+).

Close the link (or the map, or its object) to unregister, unless it was pinned: a pinned
link keeps its struct_ops registered, so does a plain map pinned with :meth:`pin` (its
registration then outlives the process, as with ``bpftool struct_ops register``).
"""

from __future__ import annotations

import errno
from typing import Any

from .._sys import cmds
from .._sys.attrs import LinkCreateAttr
from .._sys.consts import AttachType, LinkType, MapFlags, MapType
from .._sys.mapops import MapOps
from .._sys.syscall import FD
from ..errors import BPFError, Error, NotSupportedError
from .link import Link, register_link_type

__all__ = ["StructOpsLink", "attach_struct_ops"]

_KEY0 = (0).to_bytes(4, "little")
_BPF_F_REPLACE = 4


def _dup(map: Any) -> FD:
    """Our own fd for ``map`` (the map's ClosedError if it is closed)."""
    if map.closed:
        raise map._closed_error()  # noqa: SLF001
    try:
        return map._fd.dup()  # noqa: SLF001 - the map's own fd object
    except OSError as e:
        raise BPFError(e.errno or errno.EBADF, "dup struct_ops map fd",
                       "too many open files (RLIMIT_NOFILE)" if e.errno == errno.EMFILE else "") from None


@register_link_type
class StructOpsLink(Link):
    """A registered struct_ops map: a bpf_link for ``BPF_F_LINK`` maps, else a registration
    handle without a kernel link (``is_bpf_link`` False) that unregisters on close."""

    link_type = LinkType.STRUCT_OPS

    def __init__(self, fd: FD | None, map_fd: FD, *, target: str = "") -> None:
        super().__init__(fd, kind="struct_ops", target=target)
        self._map: FD | None = map_fd
        self._disconnected = False
        self._owner: Any = None  # the StructOpsMap whose close() closes this link

    def _adopted(self) -> None:
        self._map = None
        self._disconnected = False
        self._owner = None

    def _set_owner(self, owner: Any) -> None:
        old, self._owner = self._owner, None
        if old is not None:
            old._untrack(self)  # noqa: SLF001
        if hasattr(owner, "_track"):
            owner._track(self)  # noqa: SLF001
            self._owner = owner

    def _need_link(self, what: str) -> FD:
        if self._fd is None and not self._released:
            raise NotSupportedError(f"{what} on a plain struct_ops registration",
                                    "only maps of SEC(\".struct_ops.link\") are registered through a bpf_link "
                                    "(Linux 6.4+)")
        return super()._need_link(what)

    @property
    def map_id(self) -> int:
        """Id of the struct_ops map this registration is for."""
        if self._fd is not None and not self._released:
            return int(self.info().details.get("map_id", 0))
        if self._released or self._map is None:
            raise self._closed_error("map id")
        return int(cmds.map_info(self._map.fd).id)

    def pin(self, path: str) -> None:
        """Pin the link on bpffs; for a plain registration pin the map instead. Either way the
        struct_ops stays registered after this object is closed."""
        if self._fd is not None:
            super().pin(path)
            return
        from .._sys.fs import ensure_bpffs_for

        if self._released or self._map is None:
            raise self._closed_error("pinning")
        ensure_bpffs_for(path)
        cmds.obj_pin(self._map.fd, path)
        self._pinned = path

    def disconnect(self) -> None:
        """Keep a plain struct_ops registered when this object is closed (libbpf's
        ``bpf_link__disconnect``); ``pybpf struct_ops unregister`` removes it later. A
        bpf_link still ends with its last fd: :meth:`pin` it instead."""
        self._disconnected = True

    def update(self, new_program: Any, old_program: Any = None) -> None:
        """struct_ops links hold a map, not a program: see :meth:`update_map`."""
        raise NotSupportedError("BPF_LINK_UPDATE with a program on struct_ops links",
                                "swap the struct_ops map instead: link.update_map(new_map)")

    def update_map(self, new_map: Any, old_map: Any = None) -> None:
        """Atomically replace the struct_ops map behind this bpf_link (BPF_LINK_UPDATE, 6.4+).

        ``new_map`` must be a ``BPF_F_LINK`` struct_ops map of the same type; its value is
        written first (as :func:`attach_struct_ops` does). With ``old_map`` the swap only
        happens if that map is still the one linked. The kernel subsystem decides what an
        update may change (``tcp_congestion_ops``: the same ``name``).
        """
        fd = self._need_link("BPF_LINK_UPDATE")
        _write_value(new_map, link=True)
        old = int(old_map.fd) if old_map is not None else 0
        try:
            cmds.link_update(fd.fd, int(new_map.fd), old, _BPF_F_REPLACE if old else 0)
        except BPFError as e:
            raise BPFError(e.errno or 0, "LINK_UPDATE", _update_hint(e.errno or 0)) from None
        self._set_owner(new_map)

    def detach(self) -> None:
        """Unregister now: delete element 0 of a plain map, BPF_LINK_DETACH a bpf_link (6.10+;
        older kernels: remove this object's pin and close)."""
        if self._released:
            return
        if self._fd is None:
            self._unregister()
            self.unpin()
            self.close()
            return
        super().detach()

    def _unregister(self) -> None:
        if self._map is None or self._map.closed:
            return
        try:
            MapOps(self._map.fd, 4, 0).delete(_KEY0)
        except BPFError as e:
            if e.errno != errno.EINPROGRESS:  # already unregistered (e.g. `pybpf struct_ops unregister`)
                raise

    def _release(self) -> None:
        try:
            if self._fd is None and not self._disconnected and self._pinned is None:
                self._unregister()
        finally:
            if self._map is not None:
                self._map.close()


def _map_name(m: Any) -> str:
    return str(getattr(m, "name", "") or "?")


def _register_hint(err: int, name: str) -> str:
    if err == errno.EEXIST:
        return (f"struct_ops {name!r}: something with the same name is already registered (for "
                "tcp_congestion_ops: the .name); unregister it or change the name")
    if err == errno.EBUSY:
        return f"struct_ops {name!r} is already registered (a plain struct_ops map registers once)"
    if err == errno.EINVAL:
        return (f"struct_ops {name!r}: the kernel rejected the value (a required callback is missing, or a "
                "field is invalid for this subsystem)")
    return f"struct_ops {name!r}: registration failed"


def _update_hint(err: int) -> str:
    if err == errno.EINVAL:
        return ("the new map must be a BPF_F_LINK struct_ops map of the same type that the subsystem accepts as "
                "a replacement (tcp_congestion_ops: the same name), and old_map the one linked now")
    if err == errno.EPERM:
        return "old_map is not the map linked now"
    return "cannot swap the struct_ops map"


def _write_value(m: Any, *, link: bool) -> None:
    """Write the struct_ops value as element 0 (EBUSY on a link map: already written, fine)."""
    if getattr(m, "type", None) != MapType.STRUCT_OPS:
        raise Error(f"map {_map_name(m)!r} is not a struct_ops map")
    value = getattr(m, "kernel_value", b"")
    if not value:
        raise Error(f"map {_map_name(m)!r}: no struct_ops value to register (load the map from an object, "
                    "or call attach_struct_ops(map, value=...))")
    try:
        m._ops.update(_KEY0, bytes(value), 0)  # noqa: SLF001 - raw bytes, no codecs
    except BPFError as e:
        if link and e.errno == errno.EBUSY:
            return
        raise BPFError(e.errno or 0, "MAP_UPDATE_ELEM", _register_hint(e.errno or 0, _map_name(m))) from None


def attach_struct_ops(map: Any, value: bytes | None = None) -> StructOpsLink:  # noqa: A002 - libbpf's name
    """Register struct_ops ``map`` with its kernel subsystem (libbpf's ``bpf_map__attach_struct_ops``).

    ``map``: a :class:`~pybpf.object_structops.StructOpsMap` from the object loader (its
    ``kernel_value`` is written), or any struct_ops :class:`pybpf.Map` with ``value``, a
    ``struct bpf_struct_ops_<type>`` in the kernel's layout. Returns a :class:`StructOpsLink`
    (a bpf_link for ``BPF_F_LINK`` maps). Struct_ops maps need Linux 5.6+, link maps 6.4+.
    """
    if getattr(map, "type", None) != MapType.STRUCT_OPS:
        raise Error(f"map {_map_name(map)!r} is not a struct_ops map (type {getattr(map, 'type', '?')!s})")
    is_link = bool(int(getattr(map, "flags", 0)) & MapFlags.LINK)
    if value is not None:
        map.kernel_value = bytes(value)
    target = f"{getattr(map, 'struct_name', '') or 'struct_ops'} {_map_name(map)}"
    # The handle's own map reference first: writing the value registers a plain struct_ops
    # map at once, and a registration without a handle to undo it would outlive a failed call.
    mfd = _dup(map)
    registered = False
    try:
        _write_value(map, link=is_link)
        registered = not is_link
        fd = None
        if is_link:
            try:
                fd = cmds.link_create(LinkCreateAttr(prog_fd=mfd.fd, attach_type=int(AttachType.STRUCT_OPS)))
            except BPFError as e:
                raise BPFError(e.errno or 0, "LINK_CREATE", _register_hint(e.errno or 0, _map_name(map))) from None
        link = StructOpsLink(fd, mfd, target=target)
    except BaseException:
        try:
            if registered:
                MapOps(mfd.fd, 4, 0).delete(_KEY0)
        finally:
            mfd.close()
        raise
    link._set_owner(map)
    return link
