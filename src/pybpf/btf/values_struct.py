"""Composite codecs for :mod:`pybpf.btf.values`: arrays, structs, unions.

Struct decoding is compiled: every member whose bytes can be expressed as a
``struct`` format item (ints, enums, floats, pointers, char/byte arrays,
arrays of those, nested structs, bitfield storage units) is laid into one
``struct.Struct``, and a generated function turns the unpacked tuple into the
value object with one ``tuple.__new__``. A struct of plain scalars therefore
decodes with a single ``unpack`` and no per-field Python code.

Struct values are tuple subclasses (immutable, hashable, unpackable) with one
property per member; members of anonymous struct/union members are
reachable directly, as in C. Union values keep their raw bytes and decode a
member when it is read.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from operator import itemgetter
from typing import Any, Callable, Optional

from .values_objects import StructValue, UnionValue, asdict
from .values_scalar import (
    _BYTES, Codec, CodecError, EnumCodec, StrCodec, _FmtCodec, _raw_len, bitfield_value,
)

__all__ = ["ArrayCodec", "StructCodec", "UnionCodec", "StructValue", "UnionValue", "Field", "asdict"]

_UFMT = {1: "B", 2: "H", 4: "I", 8: "Q"}
_INLINE_ELEMS = 16  # arrays of composites up to this many elements are inlined into the parent decoder


# ---------------------------------------------------------------------- code generation
class _Gen:
    def __init__(self, size: int, order: str) -> None:
        self.size = size
        self.order = order
        self.ns: dict[str, Any] = {}
        self._ids: dict[int, str] = {}
        self.end = 0
        self.fmt: list[str] = []

    def const(self, obj: Any) -> str:
        """A name bound to ``obj`` in the generated code's namespace."""
        key = id(obj)
        name = self._ids.get(key)
        if name is None:
            name = self._ids[key] = f"_k{len(self._ids)}"
            self.ns[name] = obj
        return name

    def _place(self, off: int, size: int, fmt: str) -> bool:
        if off < self.end or off + size > self.size or size <= 0:
            return False
        if off > self.end:
            self.fmt.append(f"{off - self.end}x")
        self.fmt.append(fmt)
        self.end = off + size
        return True

    def struct_fmt(self) -> str:
        tail = self.size - self.end
        return ("<" if self.order == "little" else ">") + "".join(self.fmt) + (f"{tail}x" if tail else "")


class _DecGen(_Gen):
    def __init__(self, size: int, order: str) -> None:
        super().__init__(size, order)
        self.n = 0
        self.pre: list[str] = []
        self.nvars = 0

    def field(self, off: int, size: int, fmt: str, nitems: int = 1) -> Optional[int]:
        """Place a format item at ``off``; index of its first tuple item, or None if it cannot be placed."""
        if not self._place(off, size, fmt):
            return None
        idx = self.n
        self.n += nitems
        return idx

    def raw(self, off: int, size: int) -> str:
        return f"raw[{off}:{off + size}]"

    def var(self, expr: str) -> str:
        name = f"u{self.nvars}"
        self.nvars += 1
        self.pre.append(f"    {name} = {expr}")
        return name

    def compile(self, expr: str, name: str) -> Callable[[Any], Any]:
        fmt = self.struct_fmt()
        st = struct.Struct(fmt)
        self.ns.update(_unpack=st.unpack, _err=struct.error, _fb=int.from_bytes)
        lines = [f"def {name}(raw):"]
        if self.n:
            lines.append("    try:\n        t = _unpack(raw)\n    except (_err, TypeError):\n        _bad(raw)")
        else:
            lines.append(f"    if len(raw) != {self.size}:\n        _bad(raw)")
        lines.extend(self.pre)
        lines.append(f"    return {expr}")
        src = "\n".join(lines)
        exec(compile(src, f"<pybpf decoder {name}>", "exec"), self.ns)  # noqa: S102 - generated from BTF
        fn = self.ns[name]
        fn.__source__ = src
        return fn  # type: ignore[no-any-return]


class _EncGen(_Gen):
    def __init__(self, size: int, order: str) -> None:
        super().__init__(size, order)
        self.items: list[str] = []
        self.post: list[str] = []

    def field(self, off: int, size: int, fmt: str, expr: str) -> bool:
        if not self._place(off, size, fmt):
            return False
        self.items.append(expr)
        return True

    def blob(self, off: int, size: int, expr: str) -> None:
        if size and not self.field(off, size, f"{size}s", expr):
            self.post.append(f"    b[{off}:{off + size}] = {expr}")

    def bits(self, start: int, nbytes: int, pos: int, bits: int, signed: bool, name: str, v: str) -> None:
        self.post.append(f"    _setbits(b, {start}, {nbytes}, {pos}, {bits}, {signed}, {name!r}, {v}, {self.order!r})")

    def compile(self, name: str) -> Callable[[Any], bytes]:
        st = struct.Struct(self.struct_fmt())
        self.ns.update(_pack=st.pack, _setbits=_setbits, _bytes=bytes, _bytearray=bytearray)
        lines = [f"def {name}(v):", f"    out = _pack({', '.join(self.items)})"]
        if self.post:
            lines.append("    b = _bytearray(out)")
            lines.extend(self.post)
            lines.append("    out = _bytes(b)")
        lines.append("    return out")
        src = "\n".join(lines)
        exec(compile(src, f"<pybpf encoder {name}>", "exec"), self.ns)  # noqa: S102 - generated from BTF
        fn = self.ns[name]
        fn.__source__ = src
        return fn  # type: ignore[no-any-return]


def _setbits(b: bytearray, start: int, nbytes: int, pos: int, bits: int, signed: bool, name: str,
             v: Any, order: str) -> None:
    u = bitfield_value(name, v, bits, signed)
    x = int.from_bytes(b[start:start + nbytes], order)  # type: ignore[arg-type]
    mask = ((1 << bits) - 1) << pos
    b[start:start + nbytes] = ((x & ~mask) | (u << pos)).to_bytes(nbytes, order)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- arrays
class ArrayCodec(Codec):
    """``T[n]`` for non-char ``T``: decodes to a list; encodes lists/tuples
    (shorter ones zero-padded)."""

    __slots__ = ("elem", "nelems", "_fmt_all", "_zero")
    hashable = False

    def __init__(self, elem: Codec, nelems: int, name: str = "",
                 type: Any = None, order: str = "little") -> None:  # noqa: A002
        super().__init__(elem.size * nelems, name or f"{elem.name}[{nelems}]", type, order)
        self.elem = elem
        self.nelems = nelems
        self._fmt_all: Optional[struct.Struct] = None
        if isinstance(elem, _FmtCodec):
            self._fmt_all = struct.Struct(f"{self._end}{nelems}{elem.fmt}")
        self._zero: Any = None

    def decode(self, raw: Any) -> list:
        if self._fmt_all is not None:
            try:
                vals = self._fmt_all.unpack(raw)
            except (struct.error, TypeError):
                raise self._bad_size(raw) from None
            if isinstance(self.elem, EnumCodec):
                c = self.elem._cache
                return [c[v] for v in vals]
            return list(vals)
        if _raw_len(raw) != self.size:
            raise self._bad_size(raw)
        return self.elem.decode_many(raw, self.nelems)

    def _items(self, obj: Any) -> list:
        if isinstance(obj, (list, tuple)):
            items = list(obj)
        elif isinstance(obj, str) or isinstance(obj, Mapping) or not hasattr(obj, "__iter__"):
            raise CodecError(f"{self.name}: expected a list, got {type(obj).__name__} {obj!r}")
        else:
            items = list(obj)
        if len(items) > self.nelems:
            raise CodecError(f"{self.name}: {len(items)} elements do not fit {self.nelems}")
        return items

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, _BYTES):
            return self._passthrough(obj)  # type: ignore[return-value]
        if obj is None:
            return bytes(self.size)
        items = self._items(obj)
        el = self.elem
        if self._fmt_all is not None:
            if isinstance(el, EnumCodec):
                items = [el.cls.coerce(v) for v in items]  # type: ignore[attr-defined]
            items.extend([0] * (self.nelems - len(items)))
            try:
                return self._fmt_all.pack(*items)
            except (struct.error, TypeError):
                for i, v in enumerate(items):  # find the culprit for the message
                    try:
                        el.encode(v)
                    except CodecError as e:
                        raise CodecError(f"{self.name}[{i}]: {e}") from None
                raise
        out = []
        for i, v in enumerate(items):
            try:
                out.append(el.encode(v))
            except CodecError as e:
                raise CodecError(f"{self.name}[{i}]: {e}") from None
        out.append(bytes(el.size * (self.nelems - len(items))))
        return b"".join(out)

    def zero(self) -> list:
        return self.decode(bytes(self.size))

    def _gen_dec(self, g: _DecGen, off: int) -> str:
        n, el = self.nelems, self.elem
        if n == 0:
            return "[]"
        if isinstance(el, _FmtCodec):
            idx = g.field(off, self.size, f"{n}{el.fmt}", n)
            if idx is not None:
                sl = f"t[{idx}:{idx + n}]"
                if isinstance(el, EnumCodec):
                    return f"list(map({g.const(el._cache)}.__getitem__, {sl}))"
                return f"list({sl})"
        elif n <= _INLINE_ELEMS and isinstance(el, (StrCodec, StructCodec, UnionCodec, ArrayCodec)):
            return "[" + ", ".join(el._gen_dec(g, off + i * el.size) for i in range(n)) + "]"
        return super()._gen_dec(g, off)


# ---------------------------------------------------------------------- struct/union codecs
class Field:
    """One member of a composite codec: ``name``, ``codec``, byte ``offset``;
    ``bits`` > 0 for a bitfield at ``bit_offset``; ``anon`` for an anonymous
    struct/union member whose own members are flattened into the parent."""

    __slots__ = ("name", "codec", "offset", "bit_offset", "bits", "signed", "anon")

    def __init__(self, name: str, codec: Codec, bit_offset: int, bits: int = 0, signed: bool = False,
                 anon: bool = False) -> None:
        self.name = name
        self.codec = codec
        self.bit_offset = bit_offset
        self.offset = bit_offset // 8
        self.bits = bits
        self.signed = signed
        self.anon = anon

    def span(self) -> tuple[int, int]:
        """Byte range ``[start, end)`` the member occupies."""
        if self.bits:
            return self.bit_offset // 8, (self.bit_offset + self.bits + 7) // 8
        return self.offset, self.offset + self.codec.size

    def __repr__(self) -> str:
        bf = f", bits={self.bits}" if self.bits else ""
        return f"Field({self.name!r}, {self.codec.name}, offset={self.offset}{bf})"


def _bit_runs(fields: list[Field]) -> dict[int, tuple[int, int]]:
    """Group bitfields sharing bytes: field index -> run byte span."""
    runs: dict[int, tuple[int, int]] = {}
    cur: list[int] = []
    lo = hi = -1
    for i, f in enumerate(fields):
        if not f.bits:
            continue
        s, e = f.span()
        if cur and s < hi:
            cur.append(i)
            hi = max(hi, e)
            continue
        for j in cur:
            runs[j] = (lo, hi)
        cur, lo, hi = [i], s, e
    for j in cur:
        runs[j] = (lo, hi)
    return runs


class _Composite(Codec):
    __slots__ = ("fields", "cls", "_slot", "_zeros", "_anon_idx", "_names", "_dec", "_enc")

    def __init__(self, size: int, name: str, fields: list[Field], type: Any, order: str) -> None:  # noqa: A002
        super().__init__(size, name, type, order)
        self.fields = fields
        # user-visible name -> (field index, inner name for flattened anonymous members or None)
        slot: dict[str, tuple[int, Optional[str]]] = {}
        for i, f in enumerate(fields):
            if f.anon:
                for inner in f.codec._names:  # type: ignore[attr-defined]
                    slot.setdefault(inner, (i, inner))
            elif f.name:
                slot.setdefault(f.name, (i, None))
        self._slot = slot
        self._names = list(slot)
        self._anon_idx = frozenset(i for i, f in enumerate(fields) if f.anon)
        self._zeros = [_zero_input(f) for f in fields]

    def _field_inputs(self, obj: Any) -> list:
        """Per-field input values from a mapping / positional sequence / object."""
        if isinstance(obj, Mapping):
            return self._from_map(obj)
        if isinstance(obj, (StructValue, UnionValue)):
            return self._from_map(asdict(obj))
        if isinstance(obj, (tuple, list)):
            n = len(self.fields)
            if len(obj) > n:
                raise CodecError(f"{self.name}: {len(obj)} values for {n} fields")
            return list(obj) + self._zeros[len(obj):]
        if obj is None:
            return list(self._zeros)
        d = {k: getattr(obj, k) for k in self._names if hasattr(obj, k)}
        if not d:
            raise CodecError(f"{self.name}: cannot encode {type(obj).__name__} {obj!r} "
                             f"(give a mapping, a sequence or an object with fields {', '.join(self._names)})")
        return self._from_map(d)

    def _from_map(self, d: Mapping) -> list:
        vals = list(self._zeros)
        slot = self._slot
        subs: dict[int, dict] = {}
        for k, v in d.items():
            s = slot.get(k)
            if s is None:
                raise CodecError(f"{self.name} has no field {k!r} (fields: {', '.join(self._names)})")
            i, inner = s
            if inner is None:
                vals[i] = v
            else:
                subs.setdefault(i, {})[inner] = v
        for i, sub in subs.items():
            vals[i] = sub
        return vals

    def _diagnose(self, vals: Any) -> None:
        for f, v in zip(self.fields, vals):
            try:
                if f.bits:
                    c = f.codec
                    bitfield_value("", c.to_int(v) if isinstance(c, EnumCodec) else v, f.bits, f.signed)
                else:
                    f.codec.encode(v)
            except CodecError as e:
                raise CodecError(f"{self.name}.{f.name or '(anon)'}: {e}") from None


def _zero_input(f: Field) -> Any:
    if f.bits:
        return 0
    c = f.codec
    if isinstance(c, StrCodec):
        return ""
    if isinstance(c, (StructCodec, UnionCodec, ArrayCodec)):
        return None
    if isinstance(c, _FmtCodec):
        return False if c.fmt == "?" else 0.0 if c.fmt in "efd" else 0
    return bytes(c.size)


def _make_class(base: type, name: str, codec: "_Composite") -> type:
    ns: dict[str, Any] = {"__slots__": (), "_codec": codec, "__module__": "pybpf.btf.values",
                          "_fields": tuple(f.name or f"_anon{i}" for i, f in enumerate(codec.fields))}
    try:
        cls = type(name or "anon", (base,), ns)
    except (TypeError, ValueError):  # pragma: no cover - exotic names
        cls = type("anon", (base,), ns)
        cls.__name__ = cls.__qualname__ = name
    return cls


def _safe_attr(cls: type, name: str) -> bool:
    return bool(name) and not (name.startswith("__") and name.endswith("__"))


class StructCodec(_Composite):
    """A struct (or a DATASEC seen as one): decodes to a :class:`StructValue`
    subclass (``codec.cls``) with a generated one-``unpack`` decoder."""

    __slots__ = ("_simple", "_st")

    def __init__(self, size: int, name: str, fields: list[Field],
                 type: Any = None, order: str = "little") -> None:  # noqa: A002
        super().__init__(size, name, fields, type, order)
        self.cls = cls = _make_class(StructValue, name, self)
        for i, f in enumerate(fields):
            if not f.anon and _safe_attr(cls, f.name) and f.name not in cls.__dict__:
                setattr(cls, f.name, property(itemgetter(i), doc=f"{f.name}: {f.codec.name}"))
        for inner, (i, sub) in self._slot.items():
            if sub is not None and _safe_attr(cls, inner) and inner not in cls.__dict__:
                setattr(cls, inner, _struct_anon_prop(i, sub))
        g = _DecGen(size, order)
        expr = self._gen_dec(g, 0)
        g.ns["_bad"] = self._raise_bad
        flat = f"({', '.join(f't[{i}]' for i in range(g.n))},)" if g.n else "()"
        self._simple = 0 < g.n == len(fields) and expr == f"{g.const(tuple.__new__)}({g.const(cls)}, {flat})" \
            and not g.pre
        if self._simple:
            expr = f"{g.const(tuple.__new__)}({g.const(cls)}, t)"
        self._dec = g.compile(expr, "decode")
        self._st = struct.Struct(g.struct_fmt())
        e = _EncGen(size, order)
        for i, f in enumerate(fields):
            self._gen_field_enc(e, 0, f, f"v[{i}]")
        self._enc = e.compile("encode")

    def _raise_bad(self, raw: Any) -> None:
        raise self._bad_size(raw)

    def decode(self, raw: Any) -> StructValue:
        return self._dec(raw)  # type: ignore[no-any-return]

    def encode(self, obj: Any) -> bytes:
        if type(obj) is not self.cls:
            if isinstance(obj, _BYTES):
                return self._passthrough(obj)  # type: ignore[return-value]
            obj = self._field_inputs(obj)
        try:
            return self._enc(obj)  # type: ignore[no-any-return]
        except (struct.error, TypeError, OverflowError, AttributeError, KeyError, CodecError):
            self._diagnose(obj)
            raise

    def decode_many(self, buf: Any, count: Optional[int] = None) -> list:
        if not self._simple:
            return super().decode_many(buf, count)
        mv = memoryview(buf).cast("B")
        n = mv.nbytes // self.size if count is None else count
        if n * self.size > mv.nbytes:
            raise CodecError(f"{self.name}: {n} values need {n * self.size} bytes, buffer has {mv.nbytes}")
        new, cls = tuple.__new__, self.cls
        return [new(cls, t) for t in self._st.iter_unpack(mv[:n * self.size])]

    # -- generation ------------------------------------------------------------
    def _gen_dec(self, g: _DecGen, off: int) -> str:  # type: ignore[override]
        runs = _bit_runs(self.fields)
        run_vars: dict[tuple[int, int], str] = {}
        exprs = []
        for i, f in enumerate(self.fields):
            if not f.bits:
                exprs.append(f.codec._gen_dec(g, off + f.offset))
                continue
            lo, hi = runs[i]
            key = (lo, hi)
            var = run_vars.get(key)
            n = hi - lo
            if var is None:
                idx = g.field(off + lo, n, _UFMT[n]) if n in _UFMT else None
                src = f"t[{idx}]" if idx is not None else f"_fb({g.raw(off + lo, n)}, {self.order!r})"
                var = run_vars[key] = g.var(src)
            rel = f.bit_offset - 8 * lo
            pos = rel if self.order == "little" else n * 8 - rel - f.bits
            mask = (1 << f.bits) - 1
            e = f"(({var} >> {pos}) & {mask})" if pos else f"({var} & {mask})"
            if f.signed:
                e = f"{g.const(_sext)}({e}, {f.bits})"
            c = f.codec
            if isinstance(c, EnumCodec):
                e = f"{g.const(c._cache)}[{e}]"
            elif isinstance(c, _FmtCodec) and c.fmt == "?":
                e = f"({e} != 0)"
            exprs.append(e)
        body = ", ".join(exprs)
        return f"{g.const(tuple.__new__)}({g.const(self.cls)}, ({body},))" if exprs else \
            f"{g.const(tuple.__new__)}({g.const(self.cls)}, ())"

    def _gen_field_enc(self, e: _EncGen, off: int, f: Field, v: str) -> None:
        if f.bits:
            lo = f.bit_offset // 8
            n = (f.bit_offset + f.bits + 7) // 8 - lo
            rel = f.bit_offset - 8 * lo
            pos = rel if self.order == "little" else n * 8 - rel - f.bits
            c = f.codec
            if isinstance(c, EnumCodec):
                v = f"{e.const(c.to_int)}({v})"
            e.bits(off + lo, n, pos, f.bits, f.signed, f"{self.name}.{f.name}", v)
        else:
            f.codec._gen_enc(e, off + f.offset, v)

    def _gen_enc(self, g: _EncGen, off: int, v: str) -> None:
        g.blob(off, self.size, f"{g.const(self.encode)}({v})")


def _struct_anon_prop(i: int, name: str) -> property:
    def get(self: Any) -> Any:
        return getattr(tuple.__getitem__(self, i), name)
    return property(get)


def _union_prop(getter: Callable[[bytes], Any], doc: str) -> property:
    def get(self: Any) -> Any:
        return getter(self._raw)
    return property(get, doc=doc)


def _union_anon_prop(getter: Callable[[bytes], Any], name: str) -> property:
    def get(self: Any) -> Any:
        return getattr(getter(self._raw), name)
    return property(get)


def _sext(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


class UnionCodec(_Composite):
    """A union: decodes to a :class:`UnionValue` subclass (``codec.cls``) that
    keeps the bytes; encodes a mapping by writing its members in order."""

    __slots__ = ("_getters",)
    hashable = True

    def __init__(self, size: int, name: str, fields: list[Field],
                 type: Any = None, order: str = "little") -> None:  # noqa: A002
        super().__init__(size, name, fields, type, order)
        self.cls = cls = _make_class(UnionValue, name, self)
        self._getters = []
        for i, f in enumerate(fields):
            g = _DecGen(size, order)
            expr = _member_expr(g, f, order, self.name)
            g.ns["_bad"] = self._raise_bad
            getter = g.compile(expr, "get")
            self._getters.append(getter)
            if not f.anon and _safe_attr(cls, f.name) and f.name not in cls.__dict__:
                setattr(cls, f.name, _union_prop(getter, f"{f.name}: {f.codec.name}"))
        for inner, (i, sub) in self._slot.items():
            if sub is not None and _safe_attr(cls, inner) and inner not in cls.__dict__:
                setattr(cls, inner, _union_anon_prop(self._getters[i], sub))

    def _raise_bad(self, raw: Any) -> None:
        raise self._bad_size(raw)

    def decode(self, raw: Any) -> UnionValue:
        if _raw_len(raw) != self.size:
            raise self._bad_size(raw)
        obj: Any = object.__new__(self.cls)
        object.__setattr__(obj, "_raw", bytes(raw))
        return obj  # type: ignore[no-any-return]

    def _from_bytes(self, b: bytes) -> UnionValue:
        obj: Any = object.__new__(self.cls)
        object.__setattr__(obj, "_raw", b)
        return obj  # type: ignore[no-any-return]

    def encode(self, obj: Any) -> bytes:
        if type(obj) is self.cls:
            return obj._raw  # type: ignore[attr-defined,no-any-return]
        if isinstance(obj, _BYTES):
            return self._passthrough(obj)  # type: ignore[return-value]
        if obj is None:
            return bytes(self.size)
        if isinstance(obj, UnionValue):
            obj = asdict(obj)
        elif not isinstance(obj, Mapping):
            if isinstance(obj, (tuple, list)):
                raise CodecError(f"union {self.name}: give a mapping of member values, not a sequence")
            obj = {k: getattr(obj, k) for k in self._names if hasattr(obj, k)}
        return self._overlay(bytearray(self.size), obj)._raw

    def _overlay(self, buf: bytearray, changes: Mapping) -> UnionValue:
        slot = self._slot
        subs: dict[int, dict] = {}
        order: list[tuple[int, Any]] = []
        for k, v in changes.items():
            s = slot.get(k)
            if s is None:
                raise CodecError(f"union {self.name} has no member {k!r} (members: {', '.join(self._names)})")
            i, inner = s
            if inner is None:
                order.append((i, v))
            else:
                if i not in subs:
                    subs[i] = {}
                    order.append((i, subs[i]))
                subs[i][inner] = v
        for i, v in order:
            f = self.fields[i]
            try:
                if f.bits:
                    lo = f.bit_offset // 8
                    n = (f.bit_offset + f.bits + 7) // 8 - lo
                    rel = f.bit_offset - 8 * lo
                    pos = rel if self.order == "little" else n * 8 - rel - f.bits
                    c = f.codec
                    _setbits(buf, lo, n, pos, f.bits, f.signed, f"{self.name}.{f.name}",
                             c.to_int(v) if isinstance(c, EnumCodec) else v, self.order)
                else:
                    if f.anon and isinstance(v, dict) and isinstance(f.codec, UnionCodec):
                        cur = f.codec._from_bytes(bytes(buf[f.offset:f.offset + f.codec.size]))
                        data = f.codec._overlay(bytearray(cur._raw), v)._raw
                    else:
                        data = f.codec.encode(v)
                    buf[f.offset:f.offset + len(data)] = data
            except CodecError as e:
                raise CodecError(f"{self.name}.{f.name or '(anon)'}: {e}") from None
        return self._from_bytes(bytes(buf))

    def _gen_dec(self, g: _DecGen, off: int) -> str:  # type: ignore[override]
        idx = g.field(off, self.size, f"{self.size}s")
        if idx is None:
            return super()._gen_dec(g, off)
        return f"{g.const(self._from_bytes)}(t[{idx}])"

    def _gen_enc(self, g: _EncGen, off: int, v: str) -> None:
        g.blob(off, self.size, f"{g.const(self.encode)}({v})")


def _member_expr(g: _DecGen, f: Field, order: str, owner: str) -> str:
    """Decoder expression for a single (possibly bitfield) member."""
    if not f.bits:
        return f.codec._gen_dec(g, f.offset)
    lo = f.bit_offset // 8
    n = (f.bit_offset + f.bits + 7) // 8 - lo
    rel = f.bit_offset - 8 * lo
    pos = rel if order == "little" else n * 8 - rel - f.bits
    e = f"((_fb({g.raw(lo, n)}, {order!r}) >> {pos}) & {(1 << f.bits) - 1})"
    if f.signed:
        e = f"{g.const(_sext)}({e}, {f.bits})"
    c = f.codec
    if isinstance(c, EnumCodec):
        e = f"{g.const(c._cache)}[{e}]"
    elif isinstance(c, _FmtCodec) and c.fmt == "?":
        e = f"({e} != 0)"
    return e
