"""struct_ops maps at load time: the object's struct -> the kernel's ``struct bpf_struct_ops_<name>``.

The object loader calls :func:`plan_struct_ops` before creating anything. For every
struct_ops map (:class:`~pybpf.elf.structops.StructOpsSpec`) it finds the kernel's
``struct <name>`` and its wrapper ``struct bpf_struct_ops_<name>`` (vmlinux first, then
module BTF; a ``___flavor`` suffix on the object's type name is ignored), and copies
the object's data member by member, by name, into the wrapper's layout:

* a member the kernel lacks must be zero (else :class:`~pybpf.errors.StructOpsError`);
* other members must have the same BTF kind and size on both sides (no bitfields);
* function pointers become program fds once the programs are loaded; each program is
  loaded with ``attach_btf_id`` = the kernel struct's id and ``expected_attach_type`` =
  the kernel member's index.

Programs bound only to maps that are not created (``autocreate=False``) are not loaded,
those bound to a created map are (libbpf's ``bpf_object_adjust_struct_ops_autoload``).
The result is a :class:`StructOpsMap` per struct_ops variable; registering it is
:meth:`StructOpsMap.attach_struct_ops` (see :mod:`pybpf.links.struct_ops`).

Kernel support: struct_ops maps and programs 5.6 (``tcp_congestion_ops``), ``BPF_F_LINK``
struct_ops maps 6.4, struct_ops types from modules 6.9.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable

from ._sys.consts import MapFlags, ProgramType
from .btf.core_match import essential_name
from .btf.types import Kind, Ptr, Struct
from .elf.structops import func_ptr_proto
from .errors import NotSupportedError, StructOpsError
from .map import Map

if TYPE_CHECKING:
    from .btf import BTF
    from .elf import ObjectMapSpec, ObjectSpec
    from .links.struct_ops import StructOpsLink
    from .object_btf import KernelBTFs

__all__ = ["StructOpsMap", "StructOpsTarget", "KernStructOps", "plan_struct_ops", "adjust_struct_ops_autoload",
           "kernel_struct_ops_types", "VALUE_PREFIX"]

VALUE_PREFIX = "bpf_struct_ops_"
Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class StructOpsTarget:
    """Where a struct_ops program attaches: the kernel struct's BTF id, the member's index and
    the module BTF fd holding the struct (0 for vmlinux)."""

    type_id: int
    member_index: int
    btf_obj_fd: int = 0


@dataclasses.dataclass
class KernStructOps:
    """One struct_ops map in the kernel's layout.

    ``value`` is a ``struct bpf_struct_ops_<type_name>`` (``value_type_id``) with every
    non-pointer member copied in and function pointers still zero; ``func_slots`` maps
    byte offsets in ``value`` to the program whose fd goes there.
    """

    type_name: str
    type_id: int
    value_type_id: int
    btf_obj_fd: int
    value: bytearray
    func_slots: dict[int, str] = dataclasses.field(default_factory=dict)

    def value_with_fds(self, programs: dict[str, Any]) -> bytes:
        """``value`` with each function pointer set to its loaded program's fd."""
        out = bytearray(self.value)
        for off, name in self.func_slots.items():
            out[off:off + 8] = int(programs[name].fd).to_bytes(8, "little")
        return bytes(out)


class StructOpsMap(Map):
    """A struct_ops map made by the object loader: it knows the value to register.

    :meth:`attach_struct_ops` registers it with its kernel subsystem (MAP_UPDATE_ELEM,
    plus a bpf_link for ``.struct_ops.link`` maps); closing the map (or the object)
    unregisters what it registered unless that link was pinned or disconnected.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kernel_value: bytes = b""
        self.struct_name = ""
        self._links: list["StructOpsLink"] = []

    @property
    def is_link(self) -> bool:
        """Created with BPF_F_LINK (``.struct_ops.link``): registration goes through a bpf_link."""
        return bool(int(self.flags) & MapFlags.LINK)

    def attach_struct_ops(self) -> "StructOpsLink":
        """Register this struct_ops (libbpf's ``bpf_map__attach_struct_ops``); see
        :func:`pybpf.links.struct_ops.attach_struct_ops`."""
        from .links.struct_ops import attach_struct_ops

        return attach_struct_ops(self)

    def _track(self, link: "StructOpsLink") -> None:
        self._links = [lk for lk in self._links if not lk.closed]
        self._links.append(link)

    def _untrack(self, link: "StructOpsLink") -> None:
        self._links = [lk for lk in self._links if lk is not link and not lk.closed]

    def close(self) -> None:
        """Unregister what :meth:`attach_struct_ops` registered (unless pinned or disconnected),
        then release the fd."""
        links, self._links = self._links, []
        errors: list[BaseException] = []
        for lk in links:  # each one, even if unregistering an earlier one failed
            try:
                lk.close()
            except BaseException as e:  # noqa: BLE001 - raised once the map is closed too
                errors.append(e)
        try:
            super().close()
        finally:
            if errors:
                raise errors[0]

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self.fd}"
        return f"<StructOpsMap {self.name or '?'} struct {self.struct_name or '?'} {state}>"


# ---------------------------------------------------------------------- kernel types
def kernel_struct_ops_types(btfs: "list[BTF]") -> list[str]:
    """Names of the struct_ops types the kernel offers (``tcp_congestion_ops``...)."""
    out = []
    for b in btfs:
        for t in b.iter_types(Kind.STRUCT):
            name = t.name or ""
            if not name.startswith(VALUE_PREFIX) or not isinstance(t, Struct):
                continue
            sfx = name[len(VALUE_PREFIX):]
            if any(m.name == "data" and b.resolve(m.type_id or 0).name == sfx for m in t.members):
                out.append(sfx)
    return sorted(set(out))


@dataclasses.dataclass
class _Kern:
    btf: "BTF"
    struct: Struct
    struct_id: int
    vtype: Struct
    vtype_id: int
    data_off: int
    btf_obj_fd: int
    where: str


def _kernel_types(kbtf: "KernelBTFs", type_name: str, map_name: str) -> _Kern:
    """libbpf's ``find_struct_ops_kern_types()``."""
    tname = essential_name(type_name)
    vname = VALUE_PREFIX + tname
    try:
        vid, kb, mod_fd, where = kbtf.find(vname, Kind.STRUCT)
    except NotSupportedError:
        have = ", ".join(kernel_struct_ops_types(kbtf.targets())) or "none"
        raise NotSupportedError(f"struct_ops type {tname!r}",
                                f"map {map_name!r}: the kernel has no struct {vname} in its BTF "
                                f"(struct_ops types of this kernel: {have})") from None
    found = kb.find_all(tname, Kind.STRUCT)
    if not found:
        raise NotSupportedError(f"struct_ops type {tname!r}", f"map {map_name!r}: struct {tname} is not in {where} BTF")
    st = found[0]
    vt = kb[vid]
    assert isinstance(st, Struct) and isinstance(vt, Struct)
    sid = int(st.id or 0)
    dm = next((m for m in vt.members if (m.type_id or 0) == sid), None)
    if dm is None:
        raise NotSupportedError(f"struct_ops type {tname!r}", f"struct {vname} in {where} BTF holds no struct {tname}")
    return _Kern(kb, st, sid, vt, vid, dm.bit_offset // 8, mod_fd.fd if mod_fd is not None else 0, where)


# ---------------------------------------------------------------------- translation
def _translate(ms: "ObjectMapSpec", spec: "ObjectSpec", kbtf: "KernelBTFs", targets: dict[str, StructOpsTarget],
               log: Log) -> KernStructOps:
    """libbpf's ``bpf_map__init_kern_struct_ops()`` for one map."""
    ops = ms.struct_ops
    assert ops is not None
    name = ms.name
    obtf = ops.btf
    k = _kernel_types(kbtf, ops.type_name, name)
    log(f"struct_ops {name!r}: struct {ops.type_name} [{ops.type_id}] -> kernel struct {k.struct.name} "
        f"[{k.struct_id}] in {k.where}, value type {k.vtype.name} [{k.vtype_id}] ({k.vtype.size} bytes)")
    unknown = set(ops.programs) - {m.name for m in ops.struct.members}
    if unknown:
        m0 = sorted(unknown)[0]
        raise StructOpsError(name, m0, f"struct {ops.type_name} has no such member (struct_ops.programs names it)")
    kmembers = {m.name: (i, m) for i, m in enumerate(k.struct.members) if m.name}
    value = bytearray(k.vtype.size)
    out = KernStructOps(k.struct.name, k.struct_id, k.vtype_id, k.btf_obj_fd, value)
    for m in ops.struct.members:
        mname = m.name
        moff = m.bit_offset // 8
        msize = obtf.sizeof(m.type_id or 0)
        mdata = ops.data[moff:moff + msize]
        bound = ops.programs.get(mname)
        found = kmembers.get(mname)
        if found is None:
            if bound is not None:
                raise StructOpsError(name, mname, f"the kernel's struct {k.struct.name} has no such member, but "
                                     f"program {bound!r} is bound to it; unbind it (struct_ops.programs)")
            if any(mdata):
                raise StructOpsError(name, mname, f"the kernel's struct {k.struct.name} has no such member and its "
                                     "value is not zero; zero it or drop the member")
            log(f"struct_ops {name!r}: member {mname!r} not found in kernel, skipping it as it's set to zero")
            continue
        kidx, km = found
        if m.bitfield_size or km.bitfield_size:
            raise StructOpsError(name, mname, "bitfield members are not supported")
        kmoff = k.data_off + km.bit_offset // 8
        mt = obtf.resolve(m.type_id or 0)
        kmt = k.btf.resolve(km.type_id or 0)
        if mt.kind != kmt.kind:
            raise StructOpsError(name, mname, f"kind mismatch: {mt.kind.name} in the object, {kmt.kind.name} "
                                 "in the kernel")
        if isinstance(mt, Ptr):
            if bound is None:
                if any(mdata):
                    raise StructOpsError(name, mname, "a pointer member can only hold a program: bind one in "
                                         "struct_ops.programs or zero it")
                continue
            _bind(ms, spec, k, mname, kidx, km, kmoff, bound, out, targets, log)
            continue
        ksize = k.btf.sizeof(km.type_id or 0)
        if msize != ksize:
            raise StructOpsError(name, mname, f"size mismatch: {msize} bytes in the object, {ksize} in the kernel")
        value[kmoff:kmoff + msize] = mdata
    return out


def _bind(ms: "ObjectMapSpec", spec: "ObjectSpec", k: _Kern, mname: str, kidx: int, km: Any, kmoff: int,
          prog: str, out: KernStructOps, targets: dict[str, StructOpsTarget], log: Log) -> None:
    name = ms.name
    p = spec.programs.get(prog)
    if p is None or p.type != ProgramType.STRUCT_OPS:
        raise StructOpsError(name, mname, f"bound to {prog!r}, which is not a struct_ops program of this object")
    if func_ptr_proto(k.btf, km.type_id or 0) is None:
        raise StructOpsError(name, mname, f"the kernel's member is not a function pointer (program {prog!r})")
    want = StructOpsTarget(k.struct_id, kidx, k.btf_obj_fd)
    have = targets.setdefault(prog, want)
    if have.type_id != want.type_id or have.member_index != want.member_index:
        raise StructOpsError(name, mname, f"program {prog!r} is already bound to another struct_ops member "
                             f"(kernel type [{have.type_id}] member #{have.member_index}); a struct_ops program "
                             "can be shared only by the same member of the same struct")
    out.func_slots[kmoff] = prog
    log(f"struct_ops {name!r}: func ptr {mname!r} is set to prog {prog!r} (kernel member #{kidx}, "
        f"value offset {kmoff})")


def adjust_struct_ops_autoload(spec: "ObjectSpec", log: Log) -> None:
    """Load the struct_ops programs a created map uses; skip those only non-created maps use, and
    those a map used at open time but no longer does."""
    used: dict[str, bool] = {}
    for ms in spec.maps.values():
        if ms.struct_ops is not None:
            for prog in ms.struct_ops.programs.values():
                used[prog] = used.get(prog, False) or ms.autocreate
    for name, p in spec.programs.items():
        if p.type != ProgramType.STRUCT_OPS:
            continue
        if name in used:
            want = used[name]
        elif ":" in p.attach_to:
            want = False  # bound at open time, since unbound: nothing can use it
        else:
            continue
        if p.autoload != want:
            log(f"prog {name!r}: autoload {'on' if want else 'off'} (struct_ops maps using it are "
                f"{'created' if want else 'not created'})")
            p.autoload = want


def plan_struct_ops(spec: "ObjectSpec", kbtf: "KernelBTFs", log: Log) -> tuple[dict[str, KernStructOps],
                                                                             dict[str, StructOpsTarget]]:
    """Translate every created struct_ops map of ``spec`` (keyed as in ``spec.maps``); also returns
    the attach target of every program they use."""
    plans: dict[str, KernStructOps] = {}
    targets: dict[str, StructOpsTarget] = {}
    for key, ms in spec.maps.items():
        if ms.struct_ops is not None and ms.autocreate:
            plans[key] = _translate(ms, spec, kbtf, targets, log)
    return plans, targets
