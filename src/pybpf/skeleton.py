"""Python skeletons of BPF objects (``bpftool gen skeleton`` / cilium's ``bpf2go`` for Python).

::

    from pybpf.skeleton import generate
    src = generate(open("hello.bpf.o", "rb").read(), name="hello")
    open("hello_skel.py", "w").write(src)      # or: pybpf gen skeleton hello.bpf.o > hello_skel.py

    from hello_skel import Hello
    spec = Hello.open()                # HelloSpec: set constants before load
    spec.rodata.target_pid = 42
    with spec.load() as skel:          # Hello (or directly: Hello.load())
        skel.progs.hello.test_run(data=bytes(64))
        print(skel.bss.counter)        # typed property over the live .bss map
        skel.maps.events               # pybpf.Map, key/value codecs from BTF
        skel.attach()                  # auto-attach what the SEC() names say

The generated module embeds the object (zlib + base64) and contains:

* ctypes classes for the BTF types of map keys and values (laid out by
  :func:`pybpf.btf.values.ctypes_type`, size-checked at import) in a
  ``<Name>Types`` namespace (``Hello.types.events_value``);
* one class per global-data section (``.bss``, ``.data``, ``.rodata``,
  ``.data.<x>``..., ``.kconfig``) with a typed property per global variable
  (static variables are left out, as in bpftool's skeletons);
* ``<Name>Progs`` / ``<Name>Maps`` namespaces with one typed attribute per
  program (:class:`pybpf.Program`) and map (:class:`pybpf.Map`), and their
  spec-side counterparts;
* ``<Name>Spec`` (the opened object) and ``<Name>`` (the loaded object).

The runtime support (base classes) is in this module, so generated skeletons
stay small and need only ``pybpf``.
"""

from __future__ import annotations

import base64
import ctypes
import keyword
import os
import re
import zlib
from typing import Any, ClassVar, Iterator, Mapping

from . import __version__
from .errors import Error

__all__ = ["generate", "main_gen_skeleton", "unpack", "Section", "Namespace", "SkeletonSpec", "Skeleton",
           "check_sizes"]

# ====================================================================== runtime (used by generated code)


def unpack(data: bytes) -> bytes:
    """The object bytes embedded in a skeleton (base64 of zlib)."""
    return zlib.decompress(base64.b64decode(data))


def check_sizes(module: str, sizes: "tuple[tuple[Any, int], ...]") -> None:
    """Generated ctypes classes must have the sizes BTF gave them (else the host ABI differs)."""
    for ct, size in sizes:
        if ctypes.sizeof(ct) != size:
            raise ImportError(f"{module}: ctypes type {ct.__name__} is {ctypes.sizeof(ct)} bytes on this host, "
                              f"BTF says {size}; regenerate the skeleton here")


class Section:
    """A global-data section: one property per variable (generated subclasses), over
    :meth:`pybpf.ObjectSpec.section` (before load) or :meth:`pybpf.Object.section`
    (the live map after load). ``_view`` is the underlying datasec view (it also
    reaches static variables: ``sec._view["func.____fmt"]``)."""

    __slots__ = ("_view",)
    _view: Any
    SECTION: ClassVar[str] = ""
    VARIABLES: ClassVar[dict[str, str]] = {}  # property -> variable name

    def __init__(self, view: Any) -> None:
        object.__setattr__(self, "_view", view)

    def _asdict(self) -> dict[str, Any]:
        """Every (global) variable, decoded."""
        return {attr: self._view[name] for attr, name in self.VARIABLES.items()}

    def __iter__(self) -> Iterator[str]:
        return iter(self.VARIABLES)

    def __repr__(self) -> str:
        try:
            body = ", ".join(f"{k}={v!r}" for k, v in self._asdict().items())
        except Error:
            body = ", ".join(self.VARIABLES)
        return f"<{type(self).__name__} {self.SECTION} {body}>"


class Namespace:
    """Named attributes (programs or maps) taken from a dict; generated subclasses list them."""

    __slots__ = ()
    KEYS: ClassVar[dict[str, str]] = {}  # attribute -> key in the source dict

    def __init__(self, source: Mapping[str, Any]) -> None:
        for attr, key in self.KEYS.items():
            object.__setattr__(self, attr, source.get(key))

    def __iter__(self) -> Iterator[str]:
        return iter(self.KEYS)

    def _asdict(self) -> dict[str, Any]:
        return {a: getattr(self, a) for a in self.KEYS}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {', '.join(self.KEYS)}>"


def _sections(owner: Any, table: "dict[str, tuple[str, type[Section]]]", get: Any) -> None:
    for attr, (section, cls) in table.items():
        object.__setattr__(owner, attr, cls(get(section)))


class SkeletonSpec:
    """An opened (not yet loaded) object: ``spec`` (:class:`pybpf.ObjectSpec`), ``progs``,
    ``maps`` and section attributes to edit before :meth:`load`."""

    SKELETON: ClassVar[type["Skeleton"]]
    PROGS: ClassVar[type[Namespace]] = Namespace
    MAPS: ClassVar[type[Namespace]] = Namespace
    SECTIONS: ClassVar[dict[str, tuple[str, type[Section]]]] = {}

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.progs = self.PROGS(spec.programs)
        self.maps = self.MAPS(spec.maps)
        _sections(self, self.SECTIONS, spec.section)

    def load(self, **kwargs: Any) -> Any:
        """Load into the kernel (keyword arguments as for :meth:`pybpf.ObjectSpec.load`)."""
        return self.SKELETON(self.spec.load(**kwargs))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec!r}>"


# SEC() prefixes libbpf auto-attaches (the others need an explicit pybpf.links.attach_* call), and
# which of them are skipped when the section names no target (libbpf's "SEC("kprobe")" case).
_AUTO_ATTACH = frozenset({"tracepoint", "tp", "raw_tracepoint", "raw_tp", "tp_btf", "fentry", "fexit", "fmod_ret",
                          "lsm", "iter", "kprobe", "kretprobe", "ksyscall", "kretsyscall", "uprobe", "uretprobe",
                          "usdt"})
_NEED_TARGET = frozenset({"tracepoint", "tp", "raw_tracepoint", "raw_tp", "kprobe", "kretprobe", "ksyscall",
                          "kretsyscall", "uprobe", "uretprobe", "usdt"})


class Skeleton:
    """A loaded object: ``obj`` (:class:`pybpf.Object`), ``progs``, ``maps``, section
    attributes, ``links`` (program or struct_ops map name -> link, filled by :meth:`attach`)."""

    OBJECT_NAME: ClassVar[str] = ""
    DATA: ClassVar[bytes] = b""
    SPEC: ClassVar[type[SkeletonSpec]] = SkeletonSpec
    PROGS: ClassVar[type[Namespace]] = Namespace
    MAPS: ClassVar[type[Namespace]] = Namespace
    SECTIONS: ClassVar[dict[str, tuple[str, type[Section]]]] = {}
    _bytes: ClassVar["bytes | None"] = None

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.links: dict[str, Any] = {}
        try:
            self.progs = self.PROGS(obj.programs)
            self.maps = self.MAPS(obj.maps)
            _sections(self, self.SECTIONS, obj.section)
        except BaseException:
            obj.close()
            raise

    @classmethod
    def object_bytes(cls) -> bytes:
        """The embedded BPF object file."""
        if cls.__dict__.get("_bytes") is None:
            cls._bytes = unpack(cls.DATA)
        return cls._bytes  # type: ignore[return-value]

    @classmethod
    def open(cls, **kwargs: Any) -> Any:
        """Parse the embedded object (keyword arguments as for :func:`pybpf.open`)."""
        from .object import open as open_

        kwargs.setdefault("name", cls.OBJECT_NAME)
        return cls.SPEC(open_(cls.object_bytes(), **kwargs))

    @classmethod
    def load(cls, **kwargs: Any) -> Any:
        """``open()`` then ``load()`` (``strict_maps`` goes to open, the rest to load)."""
        open_kw = {k: kwargs.pop(k) for k in ("strict_maps",) if k in kwargs}
        return cls.open(**open_kw).load(**kwargs)

    def attach(self) -> dict[str, Any]:
        """Auto-attach every loaded program whose ``SEC()`` says where (tracepoints, raw
        tracepoints, fentry/fexit/lsm/tp_btf/iter, kprobes, uprobes, USDT) and register every
        struct_ops map (keyed by its variable name), like a libbpf skeleton's ``__attach()``;
        others (XDP, tc, cgroup...) are left for ``pybpf.links``.
        Returns ``links``; on failure the links made by this call are released."""
        made: list[str] = []
        try:
            for name, m in self.obj.maps.items():
                if name not in self.links and hasattr(m, "attach_struct_ops"):
                    self.links[name] = m.attach_struct_ops()
                    made.append(name)
            for name, prog in self.obj.programs.items():
                if name in self.links:
                    continue
                ps = self.obj.spec.programs.get(name)
                section = (getattr(ps, "section", "") or "").lstrip("?")
                kind, sep, _rest = section.partition("/")
                base = kind.split(".")[0]
                if base not in _AUTO_ATTACH:
                    continue
                if base in _NEED_TARGET and not sep and not getattr(ps, "attach_to", ""):
                    continue
                self.links[name] = prog.attach()
                made.append(name)
        except BaseException:
            for name in made:
                self.links.pop(name).close()
            raise
        return self.links

    def detach(self) -> None:
        """Release every link made by :meth:`attach`."""
        while self.links:
            _name, link = self.links.popitem()
            link.close()

    def close(self) -> None:
        """Detach and release the object (programs, maps, BTF). The section attributes go
        away first, so the mmaps behind them can be unmapped."""
        try:
            self.detach()
        finally:
            for attr in self.SECTIONS:
                self.__dict__.pop(attr, None)
            self.obj.close()

    def __getattr__(self, name: str) -> Any:
        if name in type(self).SECTIONS and "obj" in self.__dict__ and self.obj.closed:
            raise Error(f"{type(self).__name__}: the object is closed")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def closed(self) -> bool:
        return bool(self.obj.closed)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.obj!r}>"


# ====================================================================== generator

_RESERVED_OBJ = frozenset({"obj", "spec", "progs", "maps", "links", "types", "attach", "detach", "close", "closed",
                           "open", "load", "object_bytes"}) | {n for n in dir(Skeleton) if not n.startswith("__")} \
    | {n for n in dir(SkeletonSpec) if not n.startswith("__")}
_RESERVED_SEC = frozenset({n for n in dir(Section)} | {"_view"})
_RESERVED_NS = frozenset(dir(Namespace))


def _ident(name: str, taken: set[str], reserved: "frozenset[str] | set[str]" = frozenset()) -> str:
    """A Python identifier for ``name``, unique in ``taken`` (which it is added to)."""
    s = re.sub(r"\W", "_", name, flags=re.ASCII) or "_"
    if s[0].isdigit():
        s = "_" + s
    if keyword.iskeyword(s) or keyword.issoftkeyword(s) or s in reserved or s.startswith("__"):
        s = s + "_"
    base, i = s, 2
    while s in taken:
        s = f"{base}_{i}"
        i += 1
    taken.add(s)
    return s


def _camel(name: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    s = "".join(p[:1].upper() + p[1:] for p in parts)
    if not s:
        return "Skeleton"
    if s[0].isdigit():
        s = "Bpf" + s
    return s


def _fixed_ctypes() -> dict[Any, str]:
    out: dict[Any, str] = {}
    for n in ("c_bool", "c_char", "c_float", "c_double", "c_longdouble", "c_int8", "c_uint8", "c_int16",
              "c_uint16", "c_int32", "c_uint32", "c_int64", "c_uint64"):
        out.setdefault(getattr(ctypes, n), f"ctypes.{n}")
    return out


class _CtypesEmitter:
    """Serialises ctypes classes made by ``ctypes_type`` into Python source."""

    def __init__(self, taken: set[str]) -> None:
        self.fixed = _fixed_ctypes()
        self.names: dict[Any, str] = {}
        self.taken = taken
        self.blocks: list[str] = []
        self.sizes: list[tuple[str, int]] = []

    def ref(self, ct: Any) -> str:
        if ct in self.fixed:
            return self.fixed[ct]
        if isinstance(ct, type) and issubclass(ct, ctypes.Array):
            return f"{self.ref(ct._type_)} * {ct._length_}"
        if isinstance(ct, type) and issubclass(ct, (ctypes.Structure, ctypes.Union)):
            return self._class(ct)
        for simple in (ctypes.c_byte, ctypes.c_ubyte, ctypes.c_short, ctypes.c_ushort, ctypes.c_int,
                       ctypes.c_uint, ctypes.c_long, ctypes.c_ulong, ctypes.c_longlong, ctypes.c_ulonglong):
            if ct is simple:
                return f"ctypes.{simple.__name__}"
        raise Error(f"skeleton: cannot express ctypes type {ct!r} in source")

    def _class(self, cls: Any) -> str:
        hit = self.names.get(cls)
        if hit is not None:
            return hit
        fields = []
        for f in cls._fields_:
            t = self.ref(f[1])
            fields.append(f"        ({f[0]!r}, {t}" + (f", {f[2]})" if len(f) > 2 else ")"))
        name = _ident(cls.__name__, self.taken)
        base = "ctypes.Union" if issubclass(cls, ctypes.Union) else "ctypes.Structure"
        body = []
        pack = cls.__dict__.get("_pack_")
        if pack:
            body.append(f"    _pack_ = {pack}")
        anon = cls.__dict__.get("_anonymous_")
        if anon:
            body.append(f"    _anonymous_ = {tuple(anon)!r}")
        body.append("    _fields_ = [\n" + ",\n".join(fields) + (",\n" if fields else "") + "    ]")
        self.blocks.append(f"class {name}({base}):\n    \"\"\"{ctypes.sizeof(cls)} bytes.\"\"\"\n\n"
                           + "\n".join(body) + "\n")
        self.names[cls] = name
        self.sizes.append((name, ctypes.sizeof(cls)))
        return name


def _py_type(codec: Any) -> str:
    """The Python type a datasec view returns for ``codec``."""
    from .btf import values as v

    checks = ((v.BoolCodec, "bool"), (v.FloatCodec, "float"), (v.StrCodec, "str"), (v.BytesCodec, "bytes"),
              (v.RawCodec, "bytes"), (v.ArrayCodec, "list[Any]"), (v.StructCodec, "StructValue"),
              (v.UnionCodec, "UnionValue"), (v.EnumCodec, "int"), (v.IntCodec, "int"),
              (v.BigIntCodec, "int"), (v.BitIntCodec, "int"))
    for cls, name in checks:
        if isinstance(codec, cls):
            return name
    return "Any"


def _doc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _wrap_b64(data: bytes, indent: str = "    ", width: int = 100) -> str:
    enc = base64.b64encode(zlib.compress(data, 9)).decode()
    return "\n".join(f'{indent}b"{enc[i:i + width]}"' for i in range(0, len(enc), width)) or f'{indent}b""'


def _map_desc(spec: Any, m: Any) -> str:
    t = getattr(m.type, "name", None) or str(m.type)
    if m.internal:
        return f"{t} backing global data section {m.real_name} ({m.value_size} bytes)"
    if m.struct_ops is not None:
        from ._sys.consts import MapFlags

        return (f"{t} for struct {m.struct_ops.type_name}" + (" (bpf_link)" if int(m.flags) & MapFlags.LINK else "")
                + ("" if m.autocreate else "; not created by default (None after load unless autocreate)"))
    parts = [f"{t}"]
    btf = spec.btf
    if btf is not None and m.btf_key_type_id:
        parts.append(f"key {btf.type_name(m.btf_key_type_id)}")
    elif m.key_size:
        parts.append(f"key {m.key_size} bytes")
    if btf is not None and m.btf_value_type_id:
        parts.append(f"value {btf.type_name(m.btf_value_type_id)}")
    elif m.value_size:
        parts.append(f"value {m.value_size} bytes")
    parts.append(f"max_entries {m.max_entries}")
    return ", ".join(parts)


def generate(obj_bytes: bytes, name: str | None = None) -> str:
    """Python source of a skeleton module for the BPF object ``obj_bytes``.

    ``name`` is the object name (it prefixes global-data map names, as
    ``bpftool gen skeleton``'s ``name``); the main class is its CamelCase
    (``"hello_buf"`` -> ``HelloBuf``). Default: ``"obj"``.
    """
    from .btf.types import Kind, Linkage
    from .elf import open as elf_open

    data = bytes(obj_bytes)
    obj_name = name or "obj"
    spec = elf_open(data, name=obj_name)
    btf = spec.btf
    cls_name = _camel(obj_name)
    taken: set[str] = {"ctypes", "Any", "pybpf", "_skel", "annotations", cls_name, "OBJECT_NAME", "StructValue",
                       "UnionValue"}
    names = {k: _ident(f"{cls_name}{k}", taken) for k in
             ("Types", "Progs", "Maps", "SpecProgs", "SpecMaps", "Spec")}
    ct = _CtypesEmitter(taken)
    out: list[str] = []
    w = out.append

    # ---------------------------------------------------------------- header
    w(f"# Generated by pybpf {__version__} (pybpf gen skeleton) from BPF object {obj_name!r}. DO NOT EDIT.")
    np, nm = len(spec.programs), len(spec.maps)
    w(f'"""Skeleton of the BPF object {_doc(obj_name)!r}: {np} program{"s" * (np != 1)}, {nm} map{"s" * (nm != 1)}.')
    w("")
    w(f"    from <this module> import {cls_name}")
    w(f"    spec = {cls_name}.open()        # {names['Spec']}: edit .rodata/.data/.bss, maps, programs")
    w(f"    with spec.load() as skel:       # {cls_name} (or {cls_name}.load())")
    w("        skel.progs.<program>, skel.maps.<map>, skel.bss.<variable>, skel.attach()")
    w('"""')
    w("")
    w("from __future__ import annotations")
    w("")
    w("import ctypes")
    w("from typing import Any")
    w("")
    w("import pybpf")
    w("import pybpf.elf")
    w("from pybpf import skeleton as _skel")
    w("from pybpf.btf.values import StructValue, UnionValue  # noqa: F401 (annotations)")
    w("")
    w(f"OBJECT_NAME = {obj_name!r}")
    w("")

    # ---------------------------------------------------------------- key/value types
    type_attrs: list[tuple[str, str, str]] = []  # (attr, expression, doc)
    ta_taken: set[str] = set()
    failures: list[str] = []
    if btf is not None:
        from .btf.values import ctypes_type

        for key, m in spec.maps.items():
            if m.internal:
                continue
            for part, tid in (("key", m.btf_key_type_id), ("value", m.btf_value_type_id)):
                if not tid:
                    continue
                attr = _ident(f"{key}_{part}", ta_taken)
                try:
                    expr = ct.ref(ctypes_type(btf, tid))
                except Error as e:
                    failures.append(f"{key} {part} ({btf.type_name(tid)}): {e}")
                    expr = "bytes"
                type_attrs.append((attr, expr, btf.type_name(tid)))
    if ct.blocks:
        w("")
        w("# ---------------------------------------------------------------- ctypes types from BTF")
        w("")
        for b in ct.blocks:
            w("")
            w(b)
        w(f"_skel.check_sizes(__name__, ({''.join(f'({n}, {s}), ' for n, s in ct.sizes)}))")
        w("")
    w("")
    w(f"class {names['Types']}:")
    w('    """ctypes types of map keys and values (``bytes``: no ctypes equivalent / no BTF)."""')
    w("")
    if failures:
        for f in failures:
            w(f"    # no ctypes type for {f}")
    for attr, expr, doc in type_attrs:
        w(f"    {attr} = {expr}  # {doc}")
    if not type_attrs:
        w("    pass")
    w("")

    # ---------------------------------------------------------------- sections
    sections: list[tuple[str, str, str]] = []  # (attr, section, class)
    sec_taken: set[str] = set()
    if btf is not None:
        from .btf.values import codec_for

        for key, m in spec.maps.items():
            if not m.internal:
                continue
            ds = spec._datasec(key)  # noqa: SLF001
            if ds is None:
                continue
            attr = _ident(key.lstrip("."), sec_taken, _RESERVED_OBJ)
            cname = _ident(f"{cls_name}{_camel(key)}", taken)
            sections.append((attr, key, cname))
            w("")
            w(f"class {cname}(_skel.Section):")
            w(f'    """Global variables of ``{_doc(key)}`` ({ds.size} bytes)."""')
            w("")
            w("    __slots__ = ()")
            w(f"    SECTION = {key!r}")
            props: list[tuple[str, str, str, str]] = []
            v_taken: set[str] = set()
            for vs in ds.vars:
                var: Any = btf[vs.type_id or 0]
                if var.kind != Kind.VAR or not var.name or getattr(var, "linkage", None) == Linkage.STATIC:
                    continue
                try:
                    pt = _py_type(codec_for(btf, var.type_id or 0))
                except Error:
                    pt = "Any"
                vattr = _ident(var.name, v_taken, _RESERVED_SEC)
                props.append((vattr, var.name, pt, btf.type_name(var.type_id or 0, var.name)))
            w(f"    VARIABLES = {{{', '.join(f'{a!r}: {n!r}' for a, n, _t, _d in props)}}}")
            for vattr, vname, pt, decl in props:
                setter_t = "int" if pt == "int" else ("float" if pt == "float" else "Any")
                w("")
                w("    @property")
                w(f"    def {vattr}(self) -> {pt}:")
                w(f'        """``{_doc(decl)}`` (offset {spec.variables[vname].offset if vname in spec.variables else "?"})."""')
                w(f"        return self._view[{vname!r}]  # type: ignore[no-any-return]")
                w("")
                w(f"    @{vattr}.setter")
                w(f"    def {vattr}(self, value: {setter_t}) -> None:")
                w(f"        self._view[{vname!r}] = value")
            w("")

    # ---------------------------------------------------------------- programs and maps
    def namespace(cname: str, items: list[tuple[str, str, str, str]], doc: str) -> None:
        w("")
        w(f"class {cname}(_skel.Namespace):")
        w(f'    """{doc}"""')
        w("")
        w(f"    __slots__ = ({''.join(f'{a!r}, ' for a, _k, _t, _d in items)})")
        w(f"    KEYS = {{{', '.join(f'{a!r}: {k!r}' for a, k, _t, _d in items)}}}")
        for a, _k, t, d in items:
            w(f"    {a}: {t}")
            w(f'    """{_doc(d)}"""')
        w("")

    p_taken: set[str] = set()
    progs = []
    for pname, p in spec.programs.items():
        tname = getattr(p.type, "name", str(p.type))
        opt = "" if p.autoload else " | None"
        progs.append((_ident(pname, p_taken, _RESERVED_NS), pname, opt,
                      f"SEC({p.section!r}): {tname}, {len(p.instructions or ())} instructions"
                      + ("" if p.autoload else "; not loaded by default (None after load unless autoload)")))
    m_taken: set[str] = set()
    maps = [(_ident(k.lstrip(".") if m.internal else k, m_taken, _RESERVED_NS), k, "" if m.autocreate else " | None",
             _map_desc(spec, m)) for k, m in spec.maps.items()]
    namespace(names["Progs"], [(a, k, "pybpf.Program" + o, d) for a, k, o, d in progs], "Loaded programs.")
    namespace(names["Maps"], [(a, k, "pybpf.Map" + o, d) for a, k, o, d in maps], "Maps of the loaded object.")
    namespace(names["SpecProgs"], [(a, k, "pybpf.elf.ObjectProgramSpec", d) for a, k, _o, d in progs],
              "Program specs (set ``autoload``, ``attach_to``... before load).")
    namespace(names["SpecMaps"], [(a, k, "pybpf.elf.ObjectMapSpec", d) for a, k, _o, d in maps],
              "Map specs (set ``max_entries``, ``pinning``... before load).")

    sec_table = "{" + ", ".join(f"{a!r}: ({s!r}, {c})" for a, s, c in sections) + "}"

    # ---------------------------------------------------------------- spec + object classes
    w("")
    w(f"class {names['Spec']}(_skel.SkeletonSpec):")
    w(f'    """The opened object {_doc(obj_name)!r}: edit, then :meth:`load`."""')
    w("")
    w(f"    PROGS = {names['SpecProgs']}")
    w(f"    MAPS = {names['SpecMaps']}")
    w(f"    SECTIONS = {sec_table}")
    w("    spec: pybpf.ObjectSpec")
    w(f"    progs: {names['SpecProgs']}")
    w(f"    maps: {names['SpecMaps']}")
    for a, _s, c in sections:
        w(f"    {a}: {c}")
    w("")
    w(f"    def load(self, **kwargs: Any) -> {cls_name}:")
    w('        """Load into the kernel (see :meth:`pybpf.ObjectSpec.load`)."""')
    w(f"        return {cls_name}(self.spec.load(**kwargs))")
    w("")
    w("")
    w(f"class {cls_name}(_skel.Skeleton):")
    w(f'    """The loaded object {_doc(obj_name)!r}; ``{cls_name}.open()`` / ``{cls_name}.load()`` create it."""')
    w("")
    w("    OBJECT_NAME = OBJECT_NAME")
    w(f"    SPEC = {names['Spec']}")
    w(f"    PROGS = {names['Progs']}")
    w(f"    MAPS = {names['Maps']}")
    w(f"    SECTIONS = {sec_table}")
    w(f"    types = {names['Types']}")
    w("    obj: pybpf.Object")
    w(f"    progs: {names['Progs']}")
    w(f"    maps: {names['Maps']}")
    for a, _s, c in sections:
        w(f"    {a}: {c}")
    w("    DATA = (")
    w(_wrap_b64(data, "        "))
    w("    )")
    w("")
    w("    @classmethod")
    w(f"    def open(cls, **kwargs: Any) -> {names['Spec']}:")
    w('        """Parse the embedded object (see :func:`pybpf.open`)."""')
    w("        return super().open(**kwargs)  # type: ignore[no-any-return]")
    w("")
    w("    @classmethod")
    w(f"    def load(cls, **kwargs: Any) -> {cls_name}:")
    w('        """``open()`` + ``load()``."""')
    w("        return super().load(**kwargs)  # type: ignore[no-any-return]")
    w("")
    w(f"    def __enter__(self) -> {cls_name}:")
    w("        return self")
    w("")
    w("")
    w(f"{names['Spec']}.SKELETON = {cls_name}")
    w("")
    src = "\n".join(out)
    src = re.sub(r"\n{4,}", "\n\n\n", src)
    compile(src, f"<skeleton of {obj_name}>", "exec")  # never hand out broken source
    return src


def main_gen_skeleton(path: str, name: str | None = None) -> str:
    """``pybpf gen skeleton PATH``: the skeleton source for the object file at ``path``
    (object name: the file name up to its first dot, as bpftool does)."""
    with open(path, "rb") as f:
        data = f.read()
    if name is None:
        base = os.path.basename(path).split(".", 1)[0]
        name = base or "obj"
    return generate(data, name=name)

