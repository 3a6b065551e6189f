"""Object handles as bpftool parses them: PROG, MAP, LINK, BTF, and the show-time tables.

``PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }``,
``MAP := { id MAP_ID | pinned FILE | name MAP_NAME }``, ``LINK := { id LINK_ID | pinned FILE }``.
Error texts are bpftool's (``get by id (7): No such file or directory``,
``several programs match this handle`` ...), raised as :class:`CLIError`
(exit 255 like bpftool).
"""

from __future__ import annotations

import ctypes
import os

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .._sys import cmds
from .._sys.info import ProgInfo
from .._sys.syscall import FD
from ..errors import BPFError
from ._common import Args, CLIError, Context, strerror, strtoul, usage_error

if TYPE_CHECKING:
    from ..pids import ObjRef

BPF_F_RDONLY = 1 << 3
MAX_PROG_FULL_NAME = 128
_KIND_NAME = {"prog": "program", "map": "map", "link": "link"}


def _err(msg: str) -> CLIError:
    return CLIError(msg, 255)


def open_pinned(path: str, kind: str, flags: int = 0) -> FD:
    """bpftool's open_obj_pinned_any(): a pin that must be of ``kind``."""
    from ..pids import fd_kind

    try:
        fd = cmds.obj_get(path, flags)
    except BPFError as e:
        why = strerror(e)
        if e.errno == 13:  # EACCES
            from .._sys.fs import BPF_FS_MAGIC, fs_magic

            if fs_magic(os.path.dirname(path) or ".") != BPF_FS_MAGIC:
                why = "directory not in bpf file system (bpffs)"
        raise _err(f"bpf obj get ({path}): {why}") from None
    got = fd_kind(fd.fd)
    if got != kind:
        fd.close()
        raise _err(f"incorrect object type: {got or 'unknown'}")
    return fd


_NEXT_WHAT = {"prog": "program", "map": "map", "link": "link", "btf": "BTF object"}


def iter_ids(kind: str) -> list[int]:
    """Every id of ``kind``, with bpftool's error text (``can't get next program: ...``)."""
    try:
        return cmds.iter_ids(kind)
    except BPFError as e:
        hint = " -- kernel too old?" if e.errno == 22 else ""
        if e.errno in (1, 13):
            hint = " (needs CAP_SYS_ADMIN: run as root)"
        raise _err(f"can't get next {_NEXT_WHAT[kind]}: {strerror(e)}{hint}") from None


def _fd_by_id(kind: str, obj_id: int, flags: int = 0) -> FD:
    return cmds.fd_by_id(kind, obj_id, flags)


def prog_full_name(info: ProgInfo, fd: int) -> str:
    """The program name, completed from its BTF func_info when the kernel truncated it (15 chars)."""
    name = bytes(info.name).rstrip(b"\0").decode(errors="replace")
    if len(name) < 15 or not info.btf_id or not info.nr_func_info:
        return name
    try:
        rec = (ctypes.c_uint32 * 2)()
        i2 = ProgInfo(nr_func_info=1, func_info_rec_size=8, func_info=ctypes.addressof(rec))
        cmds.obj_info(fd, i2)
        from ._btfname import btf_type_name

        with cmds.fd_by_id("btf", int(i2.btf_id)) as bfd:
            full = btf_type_name(cmds.btf_data(bfd.fd), int(rec[1]))
        return full or name
    except Exception:  # noqa: BLE001 - best effort, as bpftool falls back to the short name
        return name


# --------------------------------------------------------------------------- programs
def prog_fds(args: Args) -> list[FD]:
    """bpftool's prog_parse_fds(): every program the handle names (possibly none)."""
    args.require(2)
    what = args.next()
    if what and "id".startswith(what):
        s = args.next()
        obj_id = strtoul(s, "ID")
        try:
            return [_fd_by_id("prog", obj_id)]
        except BPFError as e:
            raise _err(f"get by id ({obj_id}): {strerror(e)}") from None
    if what and "tag".startswith(what):
        s = args.next()
        try:
            tag = bytes.fromhex(s)
        except ValueError:
            tag = b""
        if len(tag) != 8:
            raise _err("can't parse tag")
        return _progs_matching(lambda info, fd: bytes(info.tag) == tag)
    if what and "name".startswith(what):
        name = args.next()
        if len(name) > MAX_PROG_FULL_NAME - 1:
            raise _err("can't parse name")
        return _progs_matching(lambda info, fd: prog_full_name(info, fd) == name)
    if what and "pinned".startswith(what):
        return [open_pinned(args.next(), "prog")]
    raise _err(f"expected 'id', 'tag', 'name' or 'pinned', got: '{what}'?")


def _progs_matching(pred: Any) -> list[FD]:
    out: list[FD] = []
    try:
        for obj_id in iter_ids("prog"):
            try:
                fd = _fd_by_id("prog", obj_id)
            except BPFError as e:
                if e.errno == 2:
                    continue
                raise _err(f"can't get prog by id ({obj_id}): {strerror(e)}") from None
            try:
                ok = pred(cmds.prog_info(fd.fd), fd.fd)
            except BPFError:
                ok = False
            if ok:
                out.append(fd)
            else:
                fd.close()
    except BaseException:
        for fd in out:
            fd.close()
        raise
    return out


def one(fds: list[FD], kind: str, what: str = "") -> FD:
    """bpftool's *_parse_fd(): exactly one object, else ``several ... match this handle``."""
    if len(fds) == 1:
        return fds[0]
    for fd in fds:
        fd.close()
    plural = {"prog": "programs", "map": "maps"}.get(kind, kind + "s")
    if fds:
        raise _err(f"several {plural} match this handle")
    raise _err(f"no {_KIND_NAME.get(kind, kind)} matches this handle{what}")


def prog_fd(args: Args) -> FD:
    return one(prog_fds(args), "prog")


# ------------------------------------------------------------------------------- maps
def map_fds(args: Args, flags: int = 0) -> list[FD]:
    """bpftool's map_parse_fds()."""
    args.require(2)
    what = args.next()
    if what and "id".startswith(what):
        s = args.next()
        obj_id = strtoul(s, "ID")
        try:
            return [_fd_by_id("map", obj_id, flags)]
        except BPFError as e:
            raise _err(f"get map by id ({obj_id}): {strerror(e)}") from None
    if what and "name".startswith(what):
        name = args.next()
        if len(name) > 15:
            raise _err("can't parse name")
        out: list[FD] = []
        try:
            for obj_id in iter_ids("map"):
                try:
                    fd = _fd_by_id("map", obj_id, BPF_F_RDONLY)
                except BPFError as e:
                    if e.errno == 2:
                        continue
                    raise _err(f"can't get map by id ({obj_id}): {strerror(e)}") from None
                with fd:
                    match = bytes(cmds.map_info(fd.fd).name).rstrip(b"\0").decode(errors="replace") == name
                if match:
                    out.append(_fd_by_id("map", obj_id, flags))
        except BaseException:
            for fd in out:
                fd.close()
            raise
        return out
    if what and "pinned".startswith(what):
        return [open_pinned(args.next(), "map", flags)]
    raise _err(f"expected 'id', 'name' or 'pinned', got: '{what}'?")


def map_fd(args: Args, flags: int = 0) -> FD:
    return one(map_fds(args, flags), "map")


# ------------------------------------------------------------------------------ links
def link_fd(args: Args) -> FD:
    """bpftool's link_parse_fd()."""
    args.require(2)
    what = args.next()
    if what and "id".startswith(what):
        obj_id = strtoul(args.next(), "ID")
        try:
            return _fd_by_id("link", obj_id)
        except BPFError as e:
            raise _err(f"failed to get link with ID {obj_id}: {strerror(e)}") from None
    if what and "pinned".startswith(what):
        return open_pinned(args.next(), "link")
    raise _err(f"expected 'id' or 'pinned', got: '{what}'?")


def btf_fd(args: Args) -> FD:
    """bpftool's btf_parse_fd(): ``id BTF_ID``."""
    what = args.next()
    if not (what and "id".startswith(what)):
        raise _err(f"expected 'id', got: '{what}'?")
    obj_id = strtoul(args.next(), "ID")
    try:
        return _fd_by_id("btf", obj_id)
    except BPFError as e:
        raise _err(f"can't get BTF object by id ({obj_id}): {strerror(e)}") from None


# ----------------------------------------------------------------------- show tables
class LibbpfHashmap:
    """libbpf's hashmap (hashmap.c) with bpftool's id-as-hash: keeps bpftool's output order.

    bpftool collects pinned paths and BTF users in such maps (appending several values
    per key) and prints them with hashmap__for_each_key_entry(), whose order depends on
    bucket insertion at the head and on rehashing as the map grows. Emulated exactly.
    """

    _MUL = 11400714819323198485

    def __init__(self) -> None:
        self.bits = 0
        self.buckets: list[list[tuple[int, Any]]] = []
        self.size = 0

    def _h(self, key: int, bits: int) -> int:
        return 0 if bits == 0 else ((key * self._MUL) & 0xFFFFFFFFFFFFFFFF) >> (64 - bits)

    def append(self, key: int, value: Any) -> None:
        cap = len(self.buckets)
        if cap == 0 or (self.size + 1) * 4 // 3 > cap:
            bits = max(self.bits + 1, 2)
            new: list[list[tuple[int, Any]]] = [[] for _ in range(1 << bits)]
            for bucket in self.buckets:
                for entry in bucket:  # bucket lists are head-first
                    new[self._h(entry[0], bits)].insert(0, entry)
            self.buckets, self.bits = new, bits
        self.buckets[self._h(key, self.bits)].insert(0, (key, value))
        self.size += 1

    def get(self, key: int) -> list[Any]:
        """Values of ``key`` in hashmap__for_each_key_entry() order."""
        if not self.buckets:
            return []
        return [v for k, v in self.buckets[self._h(key, self.bits)] if k == key]

    def __bool__(self) -> bool:
        return self.size > 0


class ShowTables:
    """What every ``show`` prints besides the object: pinned paths (-f) and holding processes."""

    def __init__(self, ctx: Context, kind: str, pins: bool = True) -> None:
        from ..pids import obj_refs

        self.pinned: LibbpfHashmap | None = None
        if ctx.bpffs and pins:
            from ..pinned import walk_pinned

            self.pinned = LibbpfHashmap()
            for obj_id, path in walk_pinned(kind):
                self.pinned.append(obj_id, path)
        self.refs: dict[int, list[ObjRef]] = obj_refs(kind)

    def pinned_plain(self, obj_id: int) -> str:
        if not self.pinned:
            return ""
        return "".join(f"\n\tpinned {p}" for p in self.pinned.get(obj_id))

    def pinned_json(self, obj: dict[str, Any], obj_id: int) -> None:
        if self.pinned:  # bpftool: an empty list on every object once anything is pinned
            obj["pinned"] = self.pinned.get(obj_id)

    def pids_plain(self, obj_id: int) -> str:
        refs = self.refs.get(obj_id)
        if not refs:
            return ""
        return "\n\tpids " + ", ".join(f"{r.comm}({r.pid})" for r in refs)

    def pids_json(self, obj: dict[str, Any], obj_id: int) -> None:
        refs = self.refs.get(obj_id)
        if refs:
            obj["pids"] = [{"pid": r.pid, "comm": r.comm} for r in refs]


def need_words(args: Args, n: int) -> None:
    if len(args) < n:
        raise usage_error(f"'{args.verb}' needs at least {n} arguments, {len(args)} found")
