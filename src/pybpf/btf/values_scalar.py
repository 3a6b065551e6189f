"""Scalar codecs for :mod:`pybpf.btf.values`: integers, booleans, enums,
floats, pointers, char strings and byte strings.

Every codec has ``size``, ``decode(raw)`` and ``encode(obj)``; raw bytes of
exactly ``size`` bytes pass through ``encode`` unchanged. Codecs also take
part in struct code generation (:mod:`.values_struct`) through ``_gen_dec``
and ``_gen_enc``, which place the value in a precompiled ``struct.Struct``
format when they can.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Optional

from ..errors import BTFError, Error

if TYPE_CHECKING:  # pragma: no cover
    from .types import Type
    from .values_struct import _DecGen, _EncGen

__all__ = [
    "Codec", "CodecError", "ReadOnlyError", "IntCodec", "BoolCodec", "BigIntCodec", "BitIntCodec",
    "EnumCodec", "EnumInt", "FloatCodec", "PtrCodec", "StrCodec", "BytesCodec", "RawCodec",
    "enum_class",
]

_BYTES = (bytes, bytearray, memoryview)


class CodecError(Error, ValueError):
    """A Python value cannot be encoded for (or raw bytes decoded as) a BTF type."""


class ReadOnlyError(Error, TypeError):
    """A write to a read-only buffer (e.g. a frozen ``.rodata`` map)."""


def _raw_len(obj: Any) -> int:
    return obj.nbytes if isinstance(obj, memoryview) else len(obj)


class Codec:
    """Base class: converts ``size`` raw bytes to and from Python values.

    ``type`` is the BTF type the codec was built for (modifiers and typedefs
    resolved), ``name`` a C-ish name for messages.
    """

    __slots__ = ("size", "name", "type", "order", "_end")
    #: True if values of this codec decode to immutable, hashable objects.
    hashable = True

    def __init__(self, size: int, name: str, type: "Type | None" = None, order: str = "little") -> None:  # noqa: A002
        self.size = size
        self.name = name
        self.type = type
        self.order = order
        self._end = "<" if order == "little" else ">"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ({self.size} bytes)>"

    # -- public API ------------------------------------------------------------
    def decode(self, raw: "bytes | bytearray | memoryview") -> Any:
        """The Python value of ``raw`` (exactly :attr:`size` bytes)."""
        raise NotImplementedError

    def encode(self, obj: Any) -> bytes:
        """``size`` bytes for ``obj`` (raw bytes of the right length pass unchanged)."""
        raise NotImplementedError

    def zero(self) -> Any:
        """The value all-zero bytes decode to."""
        return self.decode(bytes(self.size))

    def decode_many(self, buf: "bytes | bytearray | memoryview", count: Optional[int] = None) -> list:
        """Decode ``count`` (default: all) consecutive values packed in ``buf``."""
        size = self.size
        if size <= 0:
            raise CodecError(f"{self.name}: cannot split a buffer into {size}-byte values")
        mv = memoryview(buf).cast("B")
        n = mv.nbytes // size if count is None else count
        if n * size > mv.nbytes:
            raise CodecError(f"{self.name}: {n} values need {n * size} bytes, buffer has {mv.nbytes}")
        dec = self.decode
        return [dec(mv[i:i + size]) for i in range(0, n * size, size)]

    def __call__(self, raw: "bytes | bytearray | memoryview") -> Any:
        return self.decode(raw)

    # -- helpers ---------------------------------------------------------------
    def _passthrough(self, obj: Any) -> Optional[bytes]:
        if isinstance(obj, _BYTES):
            n = _raw_len(obj)
            if n == self.size:
                return bytes(obj)
            raise CodecError(f"{self.name}: expected {self.size} raw bytes, got {n}")
        return None

    def _bad_size(self, raw: Any) -> CodecError:
        try:
            n = _raw_len(raw)
        except TypeError:
            return CodecError(f"{self.name}: cannot decode {type(raw).__name__} (need a bytes-like object)")
        return CodecError(f"{self.name}: expected {self.size} bytes, got {n}")

    # -- code generation (see values_struct) -------------------------------------
    def _gen_dec(self, g: "_DecGen", off: int) -> str:
        """Register this value at byte ``off`` of the generated decoder; a Python expression."""
        return f"{g.const(self)}.decode({g.raw(off, self.size)})"

    def _gen_enc(self, g: "_EncGen", off: int, v: str) -> None:
        """Register packing value expression ``v`` at byte ``off`` of the generated encoder."""
        g.blob(off, self.size, f"{g.const(self)}.encode({v})")


class _FmtCodec(Codec):
    """A value that is exactly one ``struct`` item."""

    __slots__ = ("fmt", "_st")

    def __init__(self, size: int, name: str, fmt: str,
                 type: "Type | None" = None, order: str = "little") -> None:  # noqa: A002
        super().__init__(size, name, type, order)
        self.fmt = fmt
        self._st = struct.Struct(self._end + fmt)

    def decode(self, raw: Any) -> Any:
        try:
            return self._st.unpack(raw)[0]
        except (struct.error, TypeError):
            raise self._bad_size(raw) from None

    def _check(self, obj: Any) -> Any:
        return obj

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, _BYTES):
            return self._passthrough(obj)  # type: ignore[return-value]
        try:
            return self._st.pack(self._check(obj))
        except (struct.error, TypeError, OverflowError) as e:
            raise CodecError(f"{self.name}: cannot encode {obj!r}: {e}") from None

    def decode_many(self, buf: Any, count: Optional[int] = None) -> list:
        mv = memoryview(buf).cast("B")
        n = mv.nbytes // self.size if count is None else count
        if n * self.size > mv.nbytes:
            raise CodecError(f"{self.name}: {n} values need {n * self.size} bytes, buffer has {mv.nbytes}")
        return list(struct.unpack(f"{self._end}{n}{self.fmt}", mv[:n * self.size]))

    def _gen_dec(self, g: "_DecGen", off: int) -> str:
        idx = g.field(off, self.size, self.fmt)
        if idx is None:
            return super()._gen_dec(g, off)
        return self._wrap_item(g, f"t[{idx}]")

    def _wrap_item(self, g: "_DecGen", item: str) -> str:
        return item

    def _gen_enc(self, g: "_EncGen", off: int, v: str) -> None:
        if not g.field(off, self.size, self.fmt, self._enc_item(g, v)):
            super()._gen_enc(g, off, v)

    def _enc_item(self, g: "_EncGen", v: str) -> str:
        return v


_INT_FMT = {1: "b", 2: "h", 4: "i", 8: "q"}


class IntCodec(_FmtCodec):
    """1/2/4/8-byte integers; ``signed`` selects two's complement."""

    __slots__ = ("signed", "lo", "hi")

    def __init__(self, size: int, signed: bool, name: str = "", type: "Type | None" = None,  # noqa: A002
                 order: str = "little") -> None:
        fmt = _INT_FMT[size]
        super().__init__(size, name or f"{'s' if signed else 'u'}{size * 8}", fmt if signed else fmt.upper(),
                         type, order)
        self.signed = signed
        bits = size * 8
        self.lo = -(1 << (bits - 1)) if signed else 0
        self.hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, _BYTES):
            return self._passthrough(obj)  # type: ignore[return-value]
        try:
            return self._st.pack(obj)
        except (struct.error, TypeError):
            raise _int_error(self.name, obj, self.lo, self.hi) from None


def _int_error(name: str, obj: Any, lo: int, hi: int) -> CodecError:
    if isinstance(obj, int):
        return CodecError(f"{name}: {obj} out of range [{lo}, {hi}]")
    return CodecError(f"{name}: expected an int, got {type(obj).__name__} {obj!r}")


class BoolCodec(_FmtCodec):
    """``_Bool``: decodes to True/False."""

    __slots__ = ()

    def __init__(self, name: str = "_Bool", type: "Type | None" = None, order: str = "little") -> None:  # noqa: A002
        super().__init__(1, name, "?", type, order)

    def _check(self, obj: Any) -> Any:
        if not isinstance(obj, int):
            raise TypeError(f"expected a bool, got {type(obj).__name__}")
        return obj


class BigIntCodec(Codec):
    """Integers of unusual byte sizes (``__int128``, 3-byte, ...)."""

    __slots__ = ("signed",)

    def __init__(self, size: int, signed: bool, name: str = "", type: "Type | None" = None,  # noqa: A002
                 order: str = "little") -> None:
        super().__init__(size, name or f"{'s' if signed else 'u'}{size * 8}", type, order)
        self.signed = signed

    def decode(self, raw: Any) -> int:
        if _raw_len(raw) != self.size:
            raise self._bad_size(raw)
        return int.from_bytes(raw, self.order, signed=self.signed)  # type: ignore[arg-type]

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, _BYTES):
            return self._passthrough(obj)  # type: ignore[return-value]
        if not isinstance(obj, int):
            raise CodecError(f"{self.name}: expected an int, got {type(obj).__name__} {obj!r}")
        try:
            return obj.to_bytes(self.size, self.order, signed=self.signed)  # type: ignore[arg-type]
        except OverflowError:
            bits = self.size * 8
            lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if self.signed else (0, (1 << bits) - 1)
            raise _int_error(self.name, obj, lo, hi) from None


class BitIntCodec(Codec):
    """``bits`` bits at bit ``shift`` of a ``size``-byte value (a BTF Int with a
    bit offset or fewer bits than its size, or a standalone bitfield)."""

    __slots__ = ("bits", "shift", "signed", "inner", "_mask")

    def __init__(self, size: int, bits: int, shift: int, signed: bool, name: str = "",
                 inner: Optional[Codec] = None,
                 type: "Type | None" = None, order: str = "little") -> None:  # noqa: A002
        super().__init__(size, name or f"{'s' if signed else 'u'}{bits}", type, order)
        self.bits, self.shift, self.signed, self.inner = bits, shift, signed, inner
        self._mask = (1 << bits) - 1

    def _pos(self) -> int:
        # BTF numbers bits from the first byte; big-endian puts bit 0 at the MSB.
        return self.shift if self.order == "little" else self.size * 8 - self.shift - self.bits

    def decode(self, raw: Any) -> Any:
        if _raw_len(raw) != self.size:
            raise self._bad_size(raw)
        v = (int.from_bytes(raw, self.order) >> self._pos()) & self._mask  # type: ignore[arg-type]
        if self.signed and v >> (self.bits - 1):
            v -= 1 << self.bits
        return self.inner.from_int(v) if self.inner is not None else v  # type: ignore[attr-defined]

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, _BYTES):
            return self._passthrough(obj)  # type: ignore[return-value]
        v = self.inner.to_int(obj) if self.inner is not None else obj  # type: ignore[attr-defined]
        v = bitfield_value(self.name, v, self.bits, self.signed)
        return (v << self._pos()).to_bytes(self.size, self.order)  # type: ignore[arg-type]


def bitfield_value(name: str, v: Any, bits: int, signed: bool) -> int:
    """``v`` checked to fit ``bits`` bits, as an unsigned bit pattern."""
    pre = f"{name}: " if name else ""
    if not isinstance(v, int):
        raise CodecError(f"{pre}expected an int, got {type(v).__name__} {v!r}")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not lo <= v <= hi:
        raise CodecError(f"{pre}{v} does not fit a {bits}-bit {'signed' if signed else 'unsigned'} bitfield "
                         f"[{lo}, {hi}]")
    return v & ((1 << bits) - 1)


# ---------------------------------------------------------------------- enums
class EnumInt(int):
    """An enum value: an ``int`` whose ``str``/``repr`` show the enumerator name.

    Each BTF enum gets a subclass (see :func:`enum_class`) with the
    enumerators as class attributes (``task_state.TASK_RUNNING``),
    ``Cls[name]`` / ``Cls.from_name(name)`` lookups and ``Cls.members``.
    Values without an enumerator are still instances (``name`` is None).
    """

    __slots__ = ()
    _names: "dict[int, str]" = {}
    _values: "dict[str, int]" = {}
    _enum_name = ""

    @property
    def name(self) -> Optional[str]:
        """The enumerator name, or None for a value without one."""
        return self._names.get(int(self))

    @property
    def value(self) -> int:
        """The plain int."""
        return int(self)

    def __repr__(self) -> str:
        n = self._names.get(int(self))
        return n if n is not None else f"{self._enum_name or 'enum'}({int(self)})"

    def __str__(self) -> str:
        n = self._names.get(int(self))
        return n if n is not None else int.__repr__(self)

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else int.__format__(int(self), spec)

    def __reduce__(self) -> Any:
        return int, (int(self),)

    @classmethod
    def from_name(cls, name: str) -> "EnumInt":
        """The enumerator called ``name`` (KeyError listing valid names otherwise)."""
        try:
            return cls(cls._values[name])
        except KeyError:
            raise KeyError(f"enum {cls._enum_name or '(anon)'} has no enumerator {name!r} "
                           f"(valid: {', '.join(cls._values)})") from None

    @classmethod
    def coerce(cls, obj: Any) -> int:
        """An int from an enumerator name, an int or an EnumInt."""
        if isinstance(obj, str):
            v = cls._values.get(obj)
            if v is None:
                raise CodecError(f"enum {cls._enum_name or '(anon)'} has no enumerator {obj!r} "
                                 f"(valid: {', '.join(cls._values)})")
            return v
        if isinstance(obj, int):
            return int(obj)
        raise CodecError(f"enum {cls._enum_name or '(anon)'}: expected an enumerator name or int, "
                         f"got {type(obj).__name__} {obj!r}")


class _EnumMeta(type):
    def __getitem__(cls, name: str) -> EnumInt:
        return cls.from_name(name)  # type: ignore[attr-defined,no-any-return]

    def __iter__(cls) -> Any:
        return iter(cls.members.values())  # type: ignore[attr-defined]

    def __len__(cls) -> int:
        return len(cls.members)  # type: ignore[attr-defined]

    def __contains__(cls, item: Any) -> bool:
        if isinstance(item, str):
            return item in cls._values  # type: ignore[attr-defined]
        return item in cls._names  # type: ignore[attr-defined]


class _EnumCache(dict):
    """value -> EnumInt; unknown values are built on the fly (not stored)."""

    __slots__ = ("cls",)
    cls: Any

    def __missing__(self, v: int) -> EnumInt:
        return self.cls(v)  # type: ignore[no-any-return]


_RESERVED = frozenset(dir(int)) | {"name", "value", "members", "from_name", "coerce"}


def enum_class(name: str, values: "list[tuple[str, int]]") -> type:
    """An :class:`EnumInt` subclass for enumerators ``values`` ``[(name, value)]``."""
    names: dict[int, str] = {}
    by_name: dict[str, int] = {}
    for n, v in values:
        names.setdefault(v, n)
        by_name.setdefault(n, v)
    ns: dict[str, Any] = {"__slots__": (), "_names": names, "_values": by_name, "_enum_name": name}
    cls = _EnumMeta(name or "enum", (EnumInt,), ns)
    cache = _EnumCache((v, cls(v)) for v in names)
    cache.cls = cls
    cls._cache = cache  # type: ignore[attr-defined]
    cls.members = {n: cache[v] for n, v in by_name.items()}  # type: ignore[attr-defined]
    for n, v in by_name.items():
        if n.isidentifier() and n not in _RESERVED and not n.startswith("_"):
            setattr(cls, n, cache[v])
    return cls


class EnumCodec(_FmtCodec):
    """An enum: decodes to its :class:`EnumInt` class, encodes names or ints."""

    __slots__ = ("cls", "signed", "_cache")

    def __init__(self, size: int, signed: bool, cls: type, name: str, type: "Type | None" = None,  # noqa: A002
                 order: str = "little") -> None:
        fmt = _INT_FMT.get(size)
        if fmt is None:
            raise BTFError(f"enum {name}: unsupported size {size}")
        super().__init__(size, name, fmt if signed else fmt.upper(), type, order)
        self.cls = cls
        self.signed = signed
        self._cache = cls._cache  # type: ignore[attr-defined]

    def decode(self, raw: Any) -> Any:
        try:
            return self._cache[self._st.unpack(raw)[0]]
        except (struct.error, TypeError):
            raise self._bad_size(raw) from None

    def from_int(self, v: int) -> Any:
        return self._cache[v]

    def to_int(self, obj: Any) -> int:
        return self.cls.coerce(obj)  # type: ignore[attr-defined,no-any-return]

    def _check(self, obj: Any) -> Any:
        return self.cls.coerce(obj)  # type: ignore[attr-defined]

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, _BYTES):
            return self._passthrough(obj)  # type: ignore[return-value]
        v = self.cls.coerce(obj)  # type: ignore[attr-defined]
        try:
            return self._st.pack(v)
        except struct.error:
            bits = self.size * 8
            lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if self.signed else (0, (1 << bits) - 1)
            raise _int_error(self.name, v, lo, hi) from None

    def decode_many(self, buf: Any, count: Optional[int] = None) -> list:
        c = self._cache
        return [c[v] for v in super().decode_many(buf, count)]

    def _wrap_item(self, g: "_DecGen", item: str) -> str:
        return f"{g.const(self._cache)}[{item}]"

    def _enc_item(self, g: "_EncGen", v: str) -> str:
        return f"{g.const(self.cls.coerce)}({v})"  # type: ignore[attr-defined]


class FloatCodec(_FmtCodec):
    """``_Float16``/``float``/``double``."""

    __slots__ = ()

    def __init__(self, size: int, name: str = "",
                 type: "Type | None" = None, order: str = "little") -> None:  # noqa: A002
        fmt = {2: "e", 4: "f", 8: "d"}[size]
        super().__init__(size, name or ("float" if size == 4 else "double"), fmt, type, order)

    def _check(self, obj: Any) -> Any:
        if not isinstance(obj, (int, float)):
            raise TypeError(f"expected a float, got {type(obj).__name__}")
        return obj


class PtrCodec(IntCodec):
    """A pointer: an unsigned integer address."""

    __slots__ = ()

    def __init__(self, size: int, name: str = "void *",
                 type: "Type | None" = None, order: str = "little") -> None:  # noqa: A002
        super().__init__(size, False, name, type, order)


# ---------------------------------------------------------------------- strings / bytes
def _cstr(b: bytes) -> str:
    return b.partition(b"\0")[0].decode("utf-8", "surrogateescape")


class StrCodec(Codec):
    """``char[n]``: decodes to the text before the first NUL (UTF-8, undecodable
    bytes kept as surrogate escapes so they round-trip); encodes ``str`` (or
    bytes) NUL-padded, CodecError if longer than ``n`` bytes."""

    __slots__ = ("fmt",)

    def __init__(self, size: int, name: str = "",
                 type: "Type | None" = None, order: str = "little") -> None:  # noqa: A002
        super().__init__(size, name or f"char[{size}]", type, order)
        self.fmt = f"{size}s"

    def decode(self, raw: Any) -> str:
        if _raw_len(raw) != self.size:
            raise self._bad_size(raw)
        return _cstr(bytes(raw))

    def to_bytes(self, obj: Any) -> bytes:
        if isinstance(obj, str):
            b = obj.encode("utf-8", "surrogateescape")
        elif isinstance(obj, _BYTES):
            b = bytes(obj)
        else:
            raise CodecError(f"{self.name}: expected str or bytes, got {type(obj).__name__} {obj!r}")
        if len(b) > self.size:
            raise CodecError(f"{self.name}: {obj!r} is {len(b)} bytes, longer than {self.size}")
        return b

    def encode(self, obj: Any) -> bytes:
        return self.to_bytes(obj).ljust(self.size, b"\0")

    def _gen_dec(self, g: "_DecGen", off: int) -> str:
        idx = g.field(off, self.size, self.fmt)
        if idx is None:
            return super()._gen_dec(g, off)
        return f"{g.const(_cstr)}(t[{idx}])"

    def _gen_enc(self, g: "_EncGen", off: int, v: str) -> None:
        # struct's "Ns" NUL-pads shorter bytes itself.
        if not g.field(off, self.size, self.fmt, f"{g.const(self.to_bytes)}({v})"):
            super()._gen_enc(g, off, v)


class BytesCodec(Codec):
    """Arrays of ``unsigned char``/``__u8``/``signed char``: exact ``bytes``.
    Encodes bytes-likes, ``str`` or lists of ints, zero-padded if shorter."""

    __slots__ = ("fmt",)

    def __init__(self, size: int, name: str = "",
                 type: "Type | None" = None, order: str = "little") -> None:  # noqa: A002
        super().__init__(size, name or f"unsigned char[{size}]", type, order)
        self.fmt = f"{size}s"

    def decode(self, raw: Any) -> bytes:
        if _raw_len(raw) != self.size:
            raise self._bad_size(raw)
        return bytes(raw)

    def to_bytes(self, obj: Any) -> bytes:
        if isinstance(obj, _BYTES):
            b = bytes(obj)
        elif isinstance(obj, str):
            b = obj.encode("utf-8", "surrogateescape")
        elif isinstance(obj, (list, tuple)):
            try:
                b = bytes(v & 0xFF if isinstance(v, int) and -128 <= v < 0 else v for v in obj)
            except (TypeError, ValueError) as e:
                raise CodecError(f"{self.name}: cannot encode {obj!r}: {e}") from None
        else:
            raise CodecError(f"{self.name}: expected bytes, got {type(obj).__name__} {obj!r}")
        if len(b) > self.size:
            raise CodecError(f"{self.name}: {len(b)} bytes do not fit {self.size}")
        return b

    def encode(self, obj: Any) -> bytes:
        return self.to_bytes(obj).ljust(self.size, b"\0")

    def _gen_dec(self, g: "_DecGen", off: int) -> str:
        idx = g.field(off, self.size, self.fmt)
        return super()._gen_dec(g, off) if idx is None else f"t[{idx}]"

    def _gen_enc(self, g: "_EncGen", off: int, v: str) -> None:
        if not g.field(off, self.size, self.fmt, f"{g.const(self.to_bytes)}({v})"):
            super()._gen_enc(g, off, v)


class RawCodec(Codec):
    """Fallback for types without a Python mapping (``long double``...): raw bytes."""

    __slots__ = ()

    def decode(self, raw: Any) -> bytes:
        if _raw_len(raw) != self.size:
            raise self._bad_size(raw)
        return bytes(raw)

    def encode(self, obj: Any) -> bytes:
        p = self._passthrough(obj)
        if p is None:
            raise CodecError(f"{self.name}: only raw bytes can be encoded, got {type(obj).__name__}")
        return p
