"""The shared :class:`Link` base class: one attachment of a program to a hook.

Modelled on cilium/ebpf's ``link.Link``: every attach function returns a
``Link`` (or a subclass) that owns the kernel object keeping the program
attached. Closing the link detaches the program unless the link was pinned
(bpffs) or another fd still refers to it.

BPF links (``bpf_link`` fds from BPF_LINK_CREATE / BPF_RAW_TRACEPOINT_OPEN)
need Linux 5.7 (raw_tp fds are links since 5.8 for info/pinning; link ids and
``LINK_GET_FD_BY_ID`` 5.8; ``BPF_LINK_DETACH`` 5.9). Attachments without a
bpf_link (legacy perf-event ``SET_BPF``, ``PROG_ATTACH`` hooks) are subclasses
that override :meth:`close` / :meth:`detach` and report ``fd`` of whatever they
hold; :meth:`info`, :meth:`pin` and :meth:`update` then raise
:class:`~pybpf.errors.NotSupportedError`.

Subclass contract (for the network and tracing attach modules):

* call ``super().__init__(fd, kind=..., target=..., program=...)`` with the
  owned link :class:`FD` (or ``None`` for fd-less attachments);
* set ``link_type = LinkType.X`` on the class and decorate it with
  :func:`register_link_type` so :meth:`Link.from_fd` / :meth:`Link.from_pin` /
  :meth:`Link.from_id` return the right subclass;
* override :meth:`_release` for extra resources (it runs once, from
  :meth:`close`), and :meth:`detach` if the hook has its own detach path;
* :meth:`from_fd` builds registered subclasses without calling their
  ``__init__`` (only ``Link.__init__``): override :meth:`_adopted` to set
  subclass attributes to "unknown" defaults there.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .._sys import cmds
from .._sys.consts import LinkType
from .._sys.syscall import FD
from ..errors import BPFError, ClosedError, Error, NotSupportedError

if TYPE_CHECKING:
    from ..introspect import LinkInfo

__all__ = ["Link", "MultiLink", "register_link_type", "prog_fd_of", "LINK_UPDATE_TYPES", "LINK_DETACH_TYPES"]

L = TypeVar("L", bound="Link")

# Link types whose kernel ops implement update_prog (BPF_LINK_UPDATE) / detach (BPF_LINK_DETACH).
LINK_UPDATE_TYPES = frozenset({LinkType.CGROUP, LinkType.ITER, LinkType.NETNS, LinkType.XDP, LinkType.STRUCT_OPS,
                               LinkType.TCX, LinkType.NETKIT, LinkType.SOCKMAP})
LINK_DETACH_TYPES = frozenset({LinkType.CGROUP, LinkType.NETNS, LinkType.XDP, LinkType.STRUCT_OPS,
                               LinkType.NETFILTER, LinkType.TCX, LinkType.NETKIT, LinkType.SOCKMAP})

_REGISTRY: dict[int, type["Link"]] = {}


def register_link_type(cls: type[L]) -> type[L]:
    """Class decorator: :meth:`Link.from_fd` returns ``cls`` for links of ``cls.link_type``."""
    if cls.link_type is not None:
        _REGISTRY[int(cls.link_type)] = cls
    return cls


def prog_fd_of(prog: Any) -> int:
    """The fd of a :class:`pybpf.Program`, an object with ``fd``/``fileno()``, or an int."""
    if isinstance(prog, int):
        return prog
    fd = getattr(prog, "fd", None)
    if isinstance(fd, int):
        return fd
    if hasattr(prog, "fileno"):
        return int(prog.fileno())
    raise TypeError(f"expected a Program or an fd, got {type(prog).__name__}")


def _is_link_fd(fd: int) -> bool:
    """The fd is a bpf_link (OBJ_GET_INFO_BY_FD would happily fill a map's info into a link struct)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:bpf-link"
    except OSError:  # no procfs: trust the kernel's info call
        return True


def _type_name(t: object) -> str:
    return t.name if isinstance(t, LinkType) else str(t)


class Link:
    """A program attachment (usually a bpf_link fd). Context manager; ``close()`` detaches.

    ``kind`` is a short description of the attach point ("tracepoint",
    "uprobe", "xdp", ...) and ``target`` what it is attached to; both only feed
    :meth:`__repr__` and error messages.
    """

    link_type: ClassVar[LinkType | None] = None

    def __init__(self, fd: FD | None, *, kind: str = "", target: str = "", program: Any = None) -> None:
        self._fd = fd
        self.kind = kind
        self.target = target
        self._prog_id: int | None = None
        if program is not None and not isinstance(program, int):
            self._prog_id = getattr(program, "_id", None)
        self._id: int | None = None
        self._pinned: str | None = None
        self._released = False

    # ------------------------------------------------------------ construction
    @classmethod
    def from_fd(cls, fd: FD | int) -> "Link":
        """Wrap a bpf_link fd (takes ownership of an :class:`FD`; dups a raw int).

        Returns the registered subclass for the link's type (e.g. an
        ``IterLink`` for iterator links) when called on :class:`Link`.
        """
        owned = fd if isinstance(fd, FD) else FD(os.dup(fd))
        try:
            if not _is_link_fd(owned.fd):
                raise Error(f"fd {owned.fd} is not a BPF link")
            info = cmds.link_info(owned.fd)
        except BaseException:
            owned.close()
            raise
        t = int(info.type)
        try:
            lt: LinkType | int = LinkType(t)
        except ValueError:
            lt = t
        target_cls: type[Link] = cls
        if cls is Link:
            target_cls = _REGISTRY.get(t, Link)
        obj = target_cls.__new__(target_cls)
        Link.__init__(obj, owned, kind=_type_name(lt).lower(), target="")
        obj._id = int(info.id)
        obj._prog_id = int(info.prog_id)
        obj._adopted()
        return obj

    def _adopted(self) -> None:
        """Hook for subclasses built by :meth:`from_fd` (no attach-time state)."""

    @classmethod
    def from_pin(cls, path: str) -> "Link":
        """Open a link pinned on bpffs (5.8+)."""
        fd = cmds.obj_get(path)
        if not _is_link_fd(fd.fd):
            fd.close()
            raise Error(f"{path} is not a BPF link")
        return cls.from_fd(fd)

    @classmethod
    def from_id(cls, link_id: int) -> "Link":
        """Open the link with kernel id ``link_id`` (LINK_GET_FD_BY_ID, 5.8+)."""
        return cls.from_fd(cmds.fd_by_id("link", link_id))

    # ------------------------------------------------------------------ basics
    def _closed_error(self, what: str = "") -> ClosedError:
        desc = " ".join(x for x in (self.kind, self.target) if x)
        return ClosedError(f"{what + ': ' if what else ''}link{' ' + desc if desc else ''} is closed")

    @property
    def fd(self) -> int:
        """The link fd (:class:`~pybpf.errors.ClosedError`, a ValueError, once closed)."""
        if self._released:
            raise self._closed_error()
        if self._fd is None:
            raise NotSupportedError(f"{self.kind or 'this'} attachment fd", "it is not backed by a bpf_link")
        return self._fd.fd

    def fileno(self) -> int:
        """The link fd, for ``select``/``os`` calls (same as :attr:`fd`)."""
        return self.fd

    @property
    def closed(self) -> bool:
        return self._released

    @property
    def is_bpf_link(self) -> bool:
        """True when backed by a kernel bpf_link (has an id, can be pinned/queried)."""
        return self._fd is not None

    def _need_link(self, what: str) -> FD:
        if self._released:
            raise self._closed_error(what)
        if self._fd is None:
            raise NotSupportedError(f"{what} on a {self.kind or 'legacy'} attachment",
                                    "it is not a bpf_link (legacy attach API; bpf_link needs a newer kernel)")
        return self._fd

    @property
    def id(self) -> int:
        """The kernel's link id."""
        if self._id is None:
            self._id = int(cmds.link_info(self._need_link("link id").fd).id)
        return self._id

    @property
    def prog_id(self) -> int:
        """Id of the attached program (as the kernel reports it, 0 if unknown)."""
        if self._fd is not None and not self._released:
            return int(cmds.link_info(self._fd.fd).prog_id)
        return self._prog_id or 0

    @property
    def type(self) -> LinkType | int:
        """The kernel's link type (``LinkType``; a plain int for types newer than pybpf)."""
        t = int(cmds.link_info(self._need_link("link type").fd).type)
        try:
            return LinkType(t)
        except ValueError:
            return t

    def info(self) -> "LinkInfo":
        """The kernel's view (struct bpf_link_info) as :class:`pybpf.introspect.LinkInfo`."""
        from ..introspect import LinkInfo

        return LinkInfo.from_fd(self._need_link("link info").fd)

    # ----------------------------------------------------------------- pinning
    @property
    def pinned_path(self) -> str | None:
        """Where :meth:`pin` put this link (None if not pinned by this object)."""
        return self._pinned

    def pin(self, path: str) -> None:
        """Pin on bpffs (mounting /sys/fs/bpf if needed): the attachment outlives this process."""
        from .._sys.fs import ensure_bpffs_for

        fd = self._need_link("pinning")
        ensure_bpffs_for(path)
        cmds.obj_pin(fd.fd, path)
        self._pinned = path

    def unpin(self, path: str | None = None) -> None:
        """Remove the pin made by :meth:`pin` (no-op if not pinned), or the pin at ``path``.

        The attachment stays while this object (or another fd/pin) holds it. An
        explicit ``path`` that holds nothing raises :class:`~pybpf.errors.NotFoundError`.
        """
        from .._kobj import unpin_path

        if path is None:
            path, self._pinned = self._pinned, None
            if path is None or not os.path.lexists(path):
                return
        unpin_path(path)
        if path == self._pinned:
            self._pinned = None

    # ----------------------------------------------------------- update/detach
    def update(self, new_program: Any, old_program: Any = None) -> None:
        """Atomically replace the attached program (BPF_LINK_UPDATE, 5.7+).

        With ``old_program`` the swap only happens if that is still the one
        attached (BPF_F_REPLACE). Link types without update support (raw_tp,
        tracing, perf_event, kprobe/uprobe_multi, netfilter) raise
        :class:`NotSupportedError` naming the type.
        """
        fd = self._need_link("BPF_LINK_UPDATE")
        old = prog_fd_of(old_program) if old_program is not None else 0
        try:
            cmds.link_update(fd.fd, prog_fd_of(new_program), old, 4 if old else 0)  # BPF_F_REPLACE = 4
        except BPFError as e:
            if e.errno in (errno.EINVAL, errno.EOPNOTSUPP, 524):
                t = self.type
                if t not in LINK_UPDATE_TYPES:
                    raise NotSupportedError(f"BPF_LINK_UPDATE on {_type_name(t)} links",
                                            "the kernel cannot replace the program of this link type; "
                                            "attach a new link and close the old one") from None
            raise
        if not isinstance(new_program, int):
            self._prog_id = getattr(new_program, "_id", None)

    def detach(self) -> None:
        """Detach the program now (BPF_LINK_DETACH, 5.9+) even if pinned or held elsewhere.

        Link types without kernel detach support (tracing, perf, raw_tp, iter,
        kprobe/uprobe_multi) fall back to :meth:`close` after removing this
        object's own pin; other fds or pins of the same link keep it attached.
        The link object stays usable for :meth:`info` when the kernel detached it.
        """
        if self._released:
            return
        if self._fd is not None:
            try:
                cmds.link_detach(self._fd.fd)
                return
            except BPFError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, 524):
                    raise
        self.unpin()
        self.close()

    def close(self) -> None:
        """Release this object's hold on the attachment (idempotent)."""
        if self._released:
            return
        self._released = True
        try:
            self._release()
        finally:
            if self._fd is not None:
                self._fd.close()

    def _release(self) -> None:
        """Subclass hook: free extra resources (runs once, before the link fd closes)."""

    def __enter__(self: L) -> L:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        name = type(self).__name__
        desc = " ".join(x for x in (self.kind, self.target) if x)
        if self._released:
            return f"<{name} {desc} closed>"
        parts = [desc] if desc else []
        if self._fd is not None:
            parts.append(f"fd={self._fd.fd}")
            try:
                parts.append(f"id={self.id}")
            except BPFError:
                pass
        if self._pinned:
            parts.append(f"pinned={self._pinned}")
        return f"<{name} {' '.join(parts)}>"


class MultiLink(Link):
    """Several attachments handled as one (e.g. a perf event on every CPU, a USDT probe's sites).

    ``links`` holds the members; :meth:`close`, :meth:`detach`, :meth:`update`
    act on all of them. ``fd``/``id``/``prog_id``/``type``/``info()`` are those
    of the first member. :meth:`pin` raises
    :class:`~pybpf.errors.NotSupportedError`: pin each member of ``links``.
    The members' own minimum kernels apply (bpf_link members 5.7+).
    """

    def __init__(self, links: list[Link], *, kind: str = "", target: str = "") -> None:
        super().__init__(None, kind=kind, target=target)
        self.links = list(links)

    def __iter__(self) -> Any:
        return iter(self.links)

    def __len__(self) -> int:
        return len(self.links)

    def _first(self) -> Link:
        if self._released:
            raise self._closed_error()
        if not self.links:
            raise Error("empty multi-link")
        return self.links[0]

    @property
    def fd(self) -> int:
        """The first member's fd."""
        return self._first().fd

    @property
    def is_bpf_link(self) -> bool:
        """True when every member is a kernel bpf_link."""
        return bool(self.links) and all(lk.is_bpf_link for lk in self.links)

    @property
    def id(self) -> int:
        """The first member's kernel link id (see :attr:`ids` for all of them)."""
        return self._first().id

    @property
    def ids(self) -> list[int]:
        """Kernel link ids of all members."""
        return [lk.id for lk in self.links]

    @property
    def prog_id(self) -> int:
        """Id of the program attached through the first member."""
        return self._first().prog_id

    @property
    def type(self) -> LinkType | int:
        """The first member's link type (all members share it)."""
        return self._first().type

    def info(self) -> "LinkInfo":
        """The first member's :class:`pybpf.introspect.LinkInfo` (5.8+); iterate :attr:`links` for the rest."""
        return self._first().info()

    def pin(self, path: str) -> None:
        """Always raises :class:`~pybpf.errors.NotSupportedError`: a multi-link is several kernel
        objects; pin each member of :attr:`links` at its own path instead."""
        raise NotSupportedError("pinning a multi-link as one object",
                                f"pin each of its {len(self.links)} members (.links) separately")

    def update(self, new_program: Any, old_program: Any = None) -> None:
        """Replace the program in every member (BPF_LINK_UPDATE, 5.7+; see :meth:`Link.update`).

        Not atomic across members: a failure leaves the earlier members updated.
        """
        for lk in self.links:
            lk.update(new_program, old_program)

    def detach(self) -> None:
        """Detach every member (:meth:`Link.detach`: BPF_LINK_DETACH 5.9+, else close), then close."""
        for lk in self.links:
            lk.detach()
        self.close()

    def _release(self) -> None:
        err: BaseException | None = None
        for lk in self.links:
            try:
                lk.close()
            except BaseException as e:  # close them all, then report the first failure
                err = err or e
        if err is not None:
            raise err

    def __repr__(self) -> str:
        desc = " ".join(x for x in (self.kind, self.target) if x)
        state = "closed" if self._released else f"{len(self.links)} links"
        return f"<{type(self).__name__} {desc} {state}>"
