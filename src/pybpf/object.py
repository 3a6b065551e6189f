"""The object loader: :class:`~pybpf.elf.ObjectSpec` -> loaded :class:`Object`.

``pybpf.open(path)`` parses an object (:mod:`pybpf.elf`, pure), ``spec.load()``
or ``pybpf.load(path)`` creates it in the kernel the way libbpf's
``bpf_object__load`` does:

1. resolve externs (``.kconfig`` values, ksym addresses / BTF ids);
2. sanitize the object's BTF for this kernel and load it;
3. create maps (reusing compatible pinned maps; global data written and
   ``.rodata``/``.kconfig`` frozen), fill maps-of-maps;
   struct_ops maps are translated to the kernel's layout first
   (:mod:`pybpf.object_structops`) and created as :class:`~pybpf.object_structops.StructOpsMap`;
4. per program: CO-RE relocations (:func:`pybpf.btf.core.relocate`), map fds
   and extern values patched into the instructions, BPF_PROG_LOAD with BTF,
   func_info and line_info; ``.rodata`` bound to every program;
5. fill prog arrays, put program fds into struct_ops values (registering them is
   ``obj.maps[name].attach_struct_ops()``).

Anything created before a failure is released. Debug messages go to the
``log`` callback and the ``pybpf.loader`` logger.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from typing import Any, Callable, Iterator

from ._sys import cmds
from ._sys.consts import MapFlags, MapType, ProgramType
from ._sys.syscall import FD
from .asm.insn import Instruction
from .asm.opcodes import PseudoCall, PseudoSrc
from .btf.types import Datasec
from .elf import ObjectSpec
from .elf.dataview import SectionView, datasec_view
from .elf.maps import LIBBPF_PIN_BY_NAME, ObjectMapSpec
from .elf.objspec import MapDict, MissingSectionError, ObjectProgramSpec, _global_sections
from .elf.sections import SecFlags
from .errors import BPFError, ClosedError, Error, NotSupportedError
from .map import Map
from .object_btf import KernelBTFs, attach_btf_name, btf_features, load_object_btf
from .object_externs import KsymValue, resolve_kconfig, resolve_ksyms
from .prog import Program

__all__ = ["Object", "load_spec", "open", "load"]

log = logging.getLogger("pybpf.loader")
Log = Callable[[str], None]

# libbpf's bpf_object__create_map() drops BTF key/value ids for these types.
_NO_BTF_TYPES = frozenset({
    MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY, MapType.STACK_TRACE, MapType.ARRAY_OF_MAPS,
    MapType.HASH_OF_MAPS, MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP,
    MapType.SOCKMAP, MapType.SOCKHASH, MapType.QUEUE, MapType.STACK,
})
_LDDW = 0x18


def open(source: Any, **kwargs: Any) -> ObjectSpec:  # noqa: A001 - pybpf.open
    """Parse a BPF object file (path or bytes) into an editable :class:`~pybpf.elf.ObjectSpec`."""
    from . import elf

    return elf.open(source, **kwargs)


def load(source: Any, **kwargs: Any) -> "Object":
    """``pybpf.open(source).load(**kwargs)`` in one call."""
    open_kw: dict[str, Any] = {k: kwargs.pop(k) for k in ("name", "strict_maps") if k in kwargs}
    if "log" in kwargs:
        open_kw["log"] = kwargs["log"]
    return open(source, **open_kw).load(**kwargs)


class _MapValueBuffer:
    """Byte access to element 0 of a non-mmapable array map (lookup / update)."""

    def __init__(self, m: Map, size: int) -> None:
        self._m = m
        self._size = size

    def _get(self) -> bytearray:
        raw = self._m._ops.lookup((0).to_bytes(4, "little"))  # noqa: SLF001 - raw access without codecs
        return bytearray(raw or bytes(self._size))

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, key: Any) -> Any:
        return self._get()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        buf = self._get()
        buf[key] = value
        self._m._ops.update((0).to_bytes(4, "little"), bytes(buf), 0)  # noqa: SLF001


class Object:
    """A loaded BPF object: ``programs`` and ``maps`` by name, typed global data views
    (``bss``, ``data``, ``rodata``, :meth:`section`). Close with :meth:`close` or ``with``."""

    def __init__(self, spec: ObjectSpec, programs: dict[str, Program], maps: MapDict, btf_fd: FD | None) -> None:
        self.spec = spec
        self.name = spec.name
        self.programs = programs
        self.maps = maps
        self.btf_fd = btf_fd
        for prog in programs.values():
            prog.object_maps = maps  # lets attach_usdt find the object's __bpf_usdt_* maps
        self._views: dict[str, Any] = {}
        self._mvs: list[memoryview] = []
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self.programs)} programs, {len(self.maps)} maps"
        return f"<Object {self.name!r} {state}>"

    def __enter__(self) -> "Object":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def section(self, name: str) -> Any:
        """Typed view of global-data section ``name`` (``".bss"``, ``".data.foo"``...), live in the
        map: through its mmap for BPF_F_MMAPABLE maps, lookups/updates otherwise.

        :class:`~pybpf.elf.MissingSectionError` (also an AttributeError and a KeyError) if the
        object has no such section with BTF; :class:`~pybpf.errors.ClosedError` once the object
        is closed (so does every view handed out before)."""
        if self._closed:
            raise ClosedError(f"object {self.name!r} is closed")
        v = self._views.get(name)
        if v is not None:
            return v
        m = self.maps.get(name)
        ms = self.spec.maps.get(name)
        btf = self.spec.btf
        ds = None
        if btf is not None:
            ds = next((t for t in btf.find_all(name) if isinstance(t, Datasec)), None)
        if m is None or ms is None or not ms.internal:
            raise MissingSectionError(f"object {self.name!r} has no global data section {name!r} "
                                      f"(it has: {_global_sections(self.spec.maps)})", name)
        if ds is None or btf is None:
            raise MissingSectionError(f"object {self.name!r}: no BTF DATASEC for section {name!r} "
                                      "(compile with -g)", name)
        if int(m.flags) & MapFlags.MMAPABLE:
            mv = m.mmap()
            self._mvs.append(mv)
            buf = mv[:m.value_size]
            self._mvs.append(buf)
            v = datasec_view(btf, ds, buf)
        else:
            v = SectionView(btf, ds, _MapValueBuffer(m, m.value_size))
        self._views[name] = v
        return v

    @property
    def bss(self) -> Any:
        """Typed view of ``.bss`` (see :meth:`section`)."""
        return self.section(".bss")

    @property
    def data(self) -> Any:
        """Typed view of ``.data`` (see :meth:`section`)."""
        return self.section(".data")

    @property
    def rodata(self) -> Any:
        """Read-only once loaded (the map is frozen)."""
        return self.section(".rodata")

    @property
    def kconfig(self) -> Any:
        """Typed view of ``.kconfig`` (see :meth:`section`)."""
        return self.section(".kconfig")

    def close(self) -> None:
        """Release every program, map and the BTF object (pinned maps stay pinned).

        Views from :meth:`section` (``obj.bss``...) end first: using one afterwards raises
        :class:`~pybpf.errors.ClosedError`. Everything is closed even if closing one item
        fails (e.g. unregistering a struct_ops map); the first error is raised at the end.
        """
        if self._closed:
            return
        self._closed = True
        errors: list[BaseException] = []
        views, self._views = self._views, {}
        for v in views.values():
            release = getattr(v, "_dsv_release", None)
            if release is not None:
                _collect(errors, release)
        mvs, self._mvs = self._mvs, []
        for mv in reversed(mvs):
            _collect(errors, mv.release)
        for p in self.programs.values():
            _collect(errors, p.close)
        for m in self.maps.values():
            _collect(errors, m.close)
        if self.btf_fd is not None:
            _collect(errors, self.btf_fd.close)
        if errors:
            raise errors[0]

    def load_program(self, spec: Any, *, log_level: int = 0) -> Program:
        """Load one more program from this object's spec (e.g. a copy with another type or
        attach type), against the object's maps, global data and BTF, with the same
        relocations, CO-RE and extern resolution as :meth:`ObjectSpec.load`. The caller owns
        the returned :class:`Program` (BCC's ``load_func`` is built on this)."""
        ld = _Loader(self.spec, None, log_level, None, None, None)
        ld.maps = self.maps
        ld.btf_fd = self.btf_fd
        try:
            ld._externs()
            prog = ld._load_prog(spec)
        finally:
            ld.kbtf.close()
        prog.object_maps = self.maps
        return prog

    def pin_maps(self, directory: str) -> None:
        """Pin every map as ``directory/<map name>``, dots replaced by ``_`` as libbpf does
        (bpffs refuses names with dots: ``hello.bss`` is pinned as ``hello_bss``). If one pin
        fails (EEXIST...), the pins this call made are removed before the error propagates.
        Minimum kernel 4.4."""
        _pin_all([(m, os.path.join(directory, m.name.replace(".", "_"))) for m in self.maps.values()])

    def pin_programs(self, directory: str) -> None:
        """Pin every program as ``directory/<program name>``; if one fails, the pins this call
        made are removed before the error propagates. Minimum kernel 4.4."""
        _pin_all([(p, os.path.join(directory, name)) for name, p in self.programs.items()])


def _collect(errors: list[BaseException], fn: Callable[[], Any]) -> None:
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 - kept, raised once everything is closed
        errors.append(e)


def _pin_all(items: list[tuple[Any, str]]) -> None:
    done: list[Any] = []
    try:
        for obj, path in items:
            obj.pin(path)
            done.append(obj)
    except BaseException:
        for obj in reversed(done):
            try:
                obj.unpin()
            except Error as e:
                log.warning("could not remove pin %s after a failed pin: %s", obj.pinned_path, e)
        raise


# ---------------------------------------------------------------------- loading
class _Loader:
    def __init__(self, spec: ObjectSpec, log_fn: Log | None, log_level: int, pin_root: str | None,
                 kconfig: str | None, btf_targets: list[Any] | None,
                 reuse_maps: "dict[str, Any] | None" = None) -> None:
        self.spec = spec
        self.reuse_maps = dict(reuse_maps or {})
        self.user_log = log_fn
        self.log_level = log_level
        self.pin_root = pin_root
        self.kconfig = kconfig
        self.btf_targets = btf_targets
        self.kbtf = KernelBTFs()
        self.btf_fd: FD | None = None
        self.maps: MapDict = MapDict()
        self.programs: dict[str, Program] = {}
        self.pinned: list[str] = []
        self.fd_array: list[int] = []
        self.ksyms: dict[str, KsymValue] = {}
        self.core_cache: Any = None
        self.st_ops: dict[str, Any] = {}
        self.st_targets: dict[str, Any] | None = None

    def log(self, msg: str) -> None:
        log.debug(msg)
        if self.user_log is not None:
            self.user_log(msg)

    # ------------------------------------------------------------------ run
    def run(self) -> Object:
        try:
            self._externs()
            if any(ms.struct_ops is not None for ms in self.spec.maps.values()):
                from .object_structops import adjust_struct_ops_autoload

                self._plan_struct_ops()
                adjust_struct_ops_autoload(self.spec, self.log)
            if self.spec.btf is not None:
                self.btf_fd = load_object_btf(self.spec.btf, self.log)
            self._create_maps()
            for p in self.spec.programs.values():
                if not p.autoload:
                    self.log(f"prog {p.name!r}: skipped loading (autoload off)")
                    continue
                self.programs[p.name] = self._load_prog(p)
            self._init_slots(prog_arrays=True)
            for key, kern in self.st_ops.items():
                self.maps[key].kernel_value = kern.value_with_fds(self.programs)  # type: ignore[attr-defined]
        except BaseException:
            self._cleanup()
            raise
        finally:
            self.kbtf.close()
        return Object(self.spec, self.programs, self.maps, self.btf_fd)

    def _cleanup(self) -> None:
        """Release everything made so far (the load failed: that error propagates; errors
        closing an item are logged, and the remaining items are still released)."""
        errors: list[BaseException] = []
        for p in self.programs.values():
            _collect(errors, p.close)
        for m in self.maps.values():
            _collect(errors, m.close)
        for path in self.pinned:
            try:
                os.unlink(path)
            except OSError:
                pass
        if self.btf_fd is not None:
            _collect(errors, self.btf_fd.close)
        for e in errors:
            log.warning("releasing a partly loaded object: %s", e)

    # ------------------------------------------------------------------ externs
    def _externs(self) -> None:
        exts = list(self.spec.externs.values())
        if not exts:
            return
        kc = self.spec.maps.get(".kconfig")
        if kc is not None:
            buf = self.spec.section_buffer(".kconfig")
            resolve_kconfig(exts, buf, self.kconfig, self.log)
        self.ksyms = resolve_ksyms(exts, self.kbtf, self.fd_array, self.log)

    # ------------------------------------------------------------------ struct_ops
    def _plan_struct_ops(self) -> None:
        from .object_structops import plan_struct_ops

        self.st_ops, self.st_targets = plan_struct_ops(self.spec, self.kbtf, self.log)

    def _create_struct_ops_map(self, key: str, ms: ObjectMapSpec) -> Map:
        from .object_structops import StructOpsMap

        kern = self.st_ops[key]
        reuse = self.reuse_maps.get(key)
        if reuse is not None:
            fd = reuse if isinstance(reuse, int) else reuse.fd
            m: Map = StructOpsMap.from_fd(FD(_dup_cloexec(fd)))
            with _closed_on_error(m):
                self.log(f"map {ms.name!r}: skipping creation (preset fd={fd}, map id {m.id})")
        else:
            s = ms.copy()
            s.struct_ops = None
            s.value_size = len(kern.value)
            s.btf_vmlinux_value_type_id = kern.value_type_id
            s.btf_key_type_id = s.btf_value_type_id = 0
            s.btf = int(self.btf_fd) if self.btf_fd is not None else None  # None: Map makes a stub BTF
            if kern.btf_obj_fd:
                s.value_type_btf_obj_fd = kern.btf_obj_fd
                s.flags = int(s.flags) | MapFlags.VTYPE_BTF_OBJ_FD
            try:
                m = StructOpsMap.from_spec(s)
            except BPFError as e:
                if e.errno == errno.EINVAL and int(s.flags) & MapFlags.LINK and _creatable_without_link(s):
                    raise NotSupportedError("BPF_F_LINK struct_ops maps (SEC(\".struct_ops.link\"))",
                                            f"map {ms.name!r} needs Linux 6.4+; use SEC(\".struct_ops\")") from None
                raise
            self.log(f"map {ms.name!r}: created struct_ops map, fd {m.fd}, value size {s.value_size}")
        m.struct_name = kern.type_name  # type: ignore[attr-defined]
        return m

    def _struct_ops_target(self, p: ObjectProgramSpec, ls: ObjectProgramSpec) -> None:
        if self.st_targets is None:  # Object.load_program: the object was loaded by another _Loader
            self._plan_struct_ops()
        t = (self.st_targets or {}).get(p.name)
        if t is None:
            raise Error(f"prog {p.name!r}: SEC(\"struct_ops\") program isn't referenced by any created struct_ops "
                        f"map, did you forget to use it? (or set spec.programs[{p.name!r}].autoload = False)")
        ls.attach_btf_id, ls.expected_attach_type, ls.attach_btf_obj_fd = t.type_id, t.member_index, t.btf_obj_fd
        self.log(f"prog {p.name!r}: struct_ops attach target: kernel type [{t.type_id}] member #{t.member_index}")

    # ------------------------------------------------------------------ maps
    def _map_spec(self, ms: Any) -> Any:
        s = ms.copy()
        if isinstance(s, ObjectMapSpec):
            s.init_slots = {}
        no_btf = self.btf_fd is None or s.type in _NO_BTF_TYPES or not (s.btf_key_type_id or s.btf_value_type_id)
        if no_btf:
            s.btf, s.btf_key_type_id, s.btf_value_type_id = None, 0, 0
        else:
            s.btf = int(self.btf_fd)  # type: ignore[arg-type]
        if s.inner_map is not None and not isinstance(s.inner_map, Map):
            s.inner_map = self._map_spec(s.inner_map)
        return s

    def _create_maps(self) -> None:
        for key, ms in self.spec.maps.items():
            if not ms.autocreate:
                self.log(f"map {ms.name!r}: skipped creation (autocreate off)")
                continue
            self.maps[key] = self._create_struct_ops_map(key, ms) if key in self.st_ops else self._create_map(key, ms)
        self._init_slots(prog_arrays=False)

    def _create_map(self, key: str, ms: ObjectMapSpec) -> Map:
        reuse = self.reuse_maps.get(key)
        if reuse is not None:  # libbpf's bpf_map__reuse_fd(): adopt the map as is (no contents, no slots)
            fd = reuse if isinstance(reuse, int) else reuse.fd
            m = Map.from_fd(FD(_dup_cloexec(fd)))
            with _closed_on_error(m):
                self.log(f"map {ms.name!r}: skipping creation (preset fd={fd}, map id {m.id})")
                return self._with_codecs(m, ms)
        s = self._map_spec(ms)
        path = None
        if ms.pinning == LIBBPF_PIN_BY_NAME:
            from ._sys.fs import DEFAULT_BPFFS, ensure_bpffs

            root = self.pin_root or DEFAULT_BPFFS
            if root == DEFAULT_BPFFS:
                ensure_bpffs(root)
            path = os.path.join(root, ms.name)
            reused = self._reuse_pinned(s, path)
            if reused is not None:
                with _closed_on_error(reused):
                    return self._with_codecs(reused, ms)
        try:
            m = Map.from_spec(s)
        except BPFError:
            if s.btf is None:
                raise
            self.log(f"map {ms.name!r}: creation with BTF failed; retrying without BTF")
            s.btf, s.btf_key_type_id, s.btf_value_type_id = None, 0, 0
            m = Map.from_spec(s)
        with _closed_on_error(m):
            self.log(f"map {ms.name!r}: created, fd {m.fd}" + (" (frozen)" if s.freeze else ""))
            if path is not None:
                m.pin(path)
                self.pinned.append(path)
                self.log(f"map {ms.name!r}: pinned at {path}")
            return self._with_codecs(m, ms)

    def _reuse_pinned(self, s: Any, path: str) -> Map | None:
        from .map import _fill_defaults

        try:
            fd = cmds.obj_get(path)
        except BPFError as e:
            if e.errno == errno.ENOENT:
                return None
            raise
        m = Map.from_fd(fd)
        with _closed_on_error(m):
            want = _fill_defaults(s)
            info = cmds.map_info(m.fd)
            if (int(info.type), int(info.key_size), int(info.value_size), int(info.max_entries),
                    int(info.map_flags), int(info.map_extra)) != (int(want.type), want.key_size, want.value_size,
                                                                  want.max_entries, int(want.flags), want.map_extra):
                raise Error(f"map {s.name!r}: cannot reuse the map pinned at {path}: parameter mismatch")
        self.log(f"map {s.name!r}: reused pinned map at {path}")
        return m

    def _with_codecs(self, m: Map, ms: ObjectMapSpec) -> Map:
        btf = self.spec.btf
        if btf is None or ms.internal:
            return m
        try:
            from .btf.values import codec_for  # type: ignore[import-not-found,attr-defined]
        except ImportError:
            return m
        if ms.btf_key_type_id:
            m.key_type = codec_for(btf, ms.btf_key_type_id)
        if ms.btf_value_type_id:
            m.value_type = codec_for(btf, ms.btf_value_type_id)
        return m

    def _init_slots(self, prog_arrays: bool) -> None:
        for key, ms in self.spec.maps.items():
            if not ms.init_slots or (ms.type == MapType.PROG_ARRAY) != prog_arrays or key not in self.maps:
                continue
            if not prog_arrays and key in self.reuse_maps:
                continue
            m = self.maps[key]
            for slot, target in sorted(ms.init_slots.items()):
                obj: Any = self.programs.get(target) if prog_arrays else self.maps.get(target)
                if obj is None:
                    if prog_arrays and target in self.spec.programs:
                        continue  # not loaded (autoload off)
                    raise Error(f"map {ms.name!r}: slot [{slot}] refers to unknown {target!r}")
                m._ops.update(int(slot).to_bytes(4, "little"), int(obj.fd).to_bytes(4, "little"), 0)  # noqa: SLF001
                self.log(f"map {ms.name!r}: slot [{slot}] set to {'prog' if prog_arrays else 'map'} {target!r}")

    # ------------------------------------------------------------------ programs
    def _load_prog(self, p: ObjectProgramSpec) -> Program:
        insns = list(p.instructions)
        if p.core_relos:
            insns = self._core(p, insns)
        insns = self._patch(p, insns)
        ls = p.copy()
        ls.instructions = insns
        ls.btf = None
        if self.btf_fd is None or not btf_features().func:
            ls.func_info, ls.line_info = b"", b""  # as libbpf: only with kernel BTF_KIND_FUNC support
        self._attach_target(p, ls)
        self.log(f"prog {p.name!r}: loading {len(insns)} instructions as {ProgramType(p.type).name}"
                 if p.type in ProgramType._value2member_map_ else f"prog {p.name!r}: loading")
        prog = Program.from_spec(ls, log_level=self.log_level, btf_fd=int(self.btf_fd) if self.btf_fd else 0,
                                 fd_array=self.fd_array or None)
        for key, ms in self.spec.maps.items():
            if ms.real_name.startswith(".rodata") and key in self.maps:
                try:
                    prog.bind_map(self.maps[key])
                except BPFError as e:
                    self.log(f"prog {p.name!r}: failed to bind map {ms.name!r}: {e}")
        return prog

    def _core(self, p: ObjectProgramSpec, insns: list[Instruction]) -> list[Instruction]:
        try:
            from .btf.core import relocate  # type: ignore[import-not-found,attr-defined]
        except ImportError:
            raise NotSupportedError("CO-RE relocations", f"program {p.name!r} has {len(p.core_relos)} CO-RE "
                                    "relocations but pybpf.btf.core is not available") from None
        if self.spec.btf is None:
            raise Error(f"prog {p.name!r}: CO-RE relocations without BTF")
        targets = self.btf_targets if self.btf_targets is not None else self.kbtf.targets()
        self.log(f"prog {p.name!r}: applying {len(p.core_relos)} CO-RE relocations")
        if self.core_cache is None:
            from .btf.core import CoreCache  # type: ignore[import-not-found,attr-defined]

            self.core_cache = CoreCache()
        out = list(relocate(insns, list(p.core_relos), self.spec.btf, targets, log=self.log, prog_name=p.name,
                            cache=self.core_cache))
        # Keep symbolic references on instructions CO-RE left in place (slot numbering is preserved).
        syms = {slot: ins for slot, ins in _slots(insns) if ins.symbol is not None}
        for slot, new in _slots(out):
            old = syms.get(slot)
            if old is not None and new.symbol is None and new.opcode == old.opcode and new.src == old.src:
                new.symbol = old.symbol
        return out

    def _patch(self, p: ObjectProgramSpec, insns: list[Instruction]) -> list[Instruction]:
        out = []
        slot = 0
        for ins in insns:
            sym = ins.symbol
            if sym is not None:
                ins = self._patch_one(p, ins, sym, slot)
            out.append(ins)
            slot += ins.size
        return out

    def _patch_one(self, p: ObjectProgramSpec, ins: Instruction, sym: str, slot: int) -> Instruction:
        if ins.opcode == _LDDW and ins.src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_VALUE):
            m = self.maps.get(sym)
            if m is None:
                why = "is not created (autocreate off)" if sym in self.spec.maps else "does not exist"
                raise Error(f"prog {p.name!r}: insn #{slot} references map {sym!r} which {why}")
            imm = (ins.imm & ~0xFFFFFFFF) | m.fd
            self.log(f"prog {p.name!r}: insn #{slot}: map {sym!r} -> fd {m.fd}"
                     + (f", value offset {ins.imm >> 32}" if ins.src == PseudoSrc.MAP_VALUE else ""))
            return Instruction(ins.opcode, ins.dst, ins.src, ins.off, imm)
        v = self.ksyms.get(sym)
        if v is None:
            raise Error(f"prog {p.name!r}: insn #{slot} references unknown symbol {sym!r}")
        if ins.opcode == _LDDW:
            if v.resolved and v.typed:
                self.log(f"prog {p.name!r}: insn #{slot}: ksym {sym!r} -> BTF id {v.btf_id}")
                return Instruction(_LDDW, ins.dst, PseudoSrc.BTF_ID, ins.off,
                                   v.btf_id | (v.btf_obj_fd << 32))
            self.log(f"prog {p.name!r}: insn #{slot}: ksym {sym!r} -> address {v.addr:#x}")
            return Instruction(_LDDW, ins.dst, 0, ins.off, v.addr)
        if ins.is_call:
            self.log(f"prog {p.name!r}: insn #{slot}: kfunc {sym!r} -> BTF id {v.btf_id}")
            return Instruction(ins.opcode, ins.dst, PseudoCall.KFUNC_CALL, v.fd_array_idx if v.resolved else 0,
                               v.btf_id if v.resolved else 0)
        raise Error(f"prog {p.name!r}: insn #{slot} cannot reference {sym!r}")

    def _attach_target(self, p: ObjectProgramSpec, ls: ObjectProgramSpec) -> None:
        if p.type == ProgramType.STRUCT_OPS and not p.attach_btf_id:
            self._struct_ops_target(p, ls)
            return
        sd = p.sec_def
        if sd is None or not sd.flags & SecFlags.ATTACH_BTF or p.attach_btf_id:
            return
        if not p.attach_to:
            raise Error(f"prog {p.name!r}: no BTF-based attach target (set spec.programs[...].attach_to)")
        if p.type == ProgramType.EXT or p.attach_prog_fd:
            if not p.attach_prog_fd:
                raise Error(f"prog {p.name!r}: freplace needs attach_prog_fd (the target program's fd)")
            info = cmds.prog_info(p.attach_prog_fd)
            if not info.btf_id:
                raise Error(f"prog {p.name!r}: the target program has no BTF")
            from .btf.spec import BTF
            from .btf.types import Kind

            with cmds.fd_by_id("btf", int(info.btf_id)) as bfd:
                tbtf = BTF.from_bytes(cmds.btf_data(bfd.fd))
            found = tbtf.find_all(p.attach_to, Kind.FUNC)
            if not found:
                raise Error(f"prog {p.name!r}: {p.attach_to!r} is not found in the target program's BTF")
            ls.attach_btf_id = int(found[0].id or 0)
            return
        name, kind = attach_btf_name(int(p.expected_attach_type), p.attach_to)
        tid, _btf, mod_fd, where = self.kbtf.find(name, kind)
        ls.attach_btf_id = tid
        if mod_fd is not None:
            ls.attach_btf_obj_fd = mod_fd.fd
        self.log(f"prog {p.name!r}: attach target {name!r} is [{tid}] in {where}")


@contextlib.contextmanager
def _closed_on_error(m: Map) -> Iterator[None]:
    """Close ``m`` if the block fails: it is not in the loader's maps yet, so cleanup would miss it."""
    try:
        yield
    except BaseException:
        m.close()
        raise


def _creatable_without_link(s: Any) -> bool:
    """The struct_ops map the kernel refused is accepted without BPF_F_LINK (the kernel predates 6.4)."""
    t = s.copy()
    t.flags = int(t.flags) & ~MapFlags.LINK
    try:
        Map.from_spec(t).close()
    except BPFError:
        return False
    return True


def _dup_cloexec(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)


def _slots(insns: list[Instruction]) -> Any:
    slot = 0
    for ins in insns:
        yield slot, ins
        slot += ins.size


def load_spec(spec: ObjectSpec, *, log: Log | None = None, log_level: int = 0, pin_root: str | None = None,
              kconfig: str | None = None, btf_targets: list[Any] | None = None,
              reuse_maps: "dict[str, Any] | None" = None) -> Object:
    """Load ``spec`` into the kernel (what ``spec.load()`` calls).

    ``log``: debug callback; ``log_level``: verifier log level kept in each
    ``Program.verifier_log``; ``pin_root``: directory for maps pinned by name
    (default /sys/fs/bpf); ``kconfig``: extra Kconfig text consulted before the
    system config; ``btf_targets``: CO-RE target BTFs (default vmlinux + modules);
    ``reuse_maps``: {map key: Map or map fd} used instead of creating those maps
    (libbpf's ``bpf_map__reuse_fd``: the map is taken as is, its initial contents
    and slots are not written; the fd is duplicated). The spec is copied first,
    so it stays reusable.
    """
    return _Loader(spec.copy(), log, log_level, pin_root, kconfig, btf_targets, reuse_maps).run()
