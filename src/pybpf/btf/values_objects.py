"""Value objects of :mod:`pybpf.btf.values`: decoded structs and unions.

:class:`StructValue` subclasses are tuples (immutable, hashable, unpackable)
with a property per member; :class:`UnionValue` subclasses keep the union's
bytes and decode a member when it is read. Both are generated per BTF type by
the codecs in :mod:`.values_struct` (``codec.cls``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .values_scalar import CodecError

if TYPE_CHECKING:  # pragma: no cover
    from .values_struct import StructCodec, UnionCodec

__all__ = ["StructValue", "UnionValue", "asdict"]


def _plain(v: Any) -> Any:
    if isinstance(v, (StructValue, UnionValue)):
        return v.to_dict()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, StructValue):
        return (type(v).__name__,) + tuple(_freeze(x) for x in v)
    return v


class StructValue(tuple):
    """A decoded struct: immutable, attribute access per member (anonymous
    members flattened), ``to_dict()``, ``_replace(**changes)``,
    ``bytes(v)`` encodes it back. Build one with ``Cls(field=value, ...)``
    (missing fields are zero) or ``Cls(*positional)``."""

    __slots__ = ()
    _codec: "StructCodec"
    _fields: tuple = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> "StructValue":
        c = cls._codec
        if args and kwargs:
            raise TypeError(f"{cls.__name__}(): give positional or keyword fields, not both")
        if len(args) == 1 and (isinstance(args[0], Mapping) or type(args[0]) is cls):
            obj: Any = args[0]
        else:
            obj = args if args else kwargs
        return c.decode(c.encode(obj))  # type: ignore[no-any-return]

    def _items(self) -> list:
        out = []
        anon = self._codec._anon_idx
        for i, name in enumerate(self._fields):
            v = tuple.__getitem__(self, i)
            if i in anon:
                out.extend(v._items())
            else:
                out.append((name, v))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._items())})"

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            return tuple.__eq__(self, other)  # type: ignore[arg-type]
        if isinstance(other, Mapping):
            return self.to_dict() == _plain_map(other)
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(_freeze(self))

    def to_dict(self) -> dict:
        """``{member: value}`` with nested structs/unions as dicts (anonymous members flattened)."""
        return {k: _plain(v) for k, v in self._items()}

    _asdict = to_dict

    def _replace(self, **changes: Any) -> "StructValue":
        d = dict(self._items())
        unknown = set(changes) - d.keys()
        if unknown:
            raise CodecError(f"{type(self).__name__} has no field(s) {', '.join(sorted(unknown))} "
                             f"(fields: {', '.join(d)})")
        d.update(changes)
        c = self._codec
        return c.decode(c.encode(d))  # type: ignore[no-any-return]

    def __bytes__(self) -> bytes:
        return self._codec.encode(self)

    def __reduce__(self) -> Any:
        return dict, (self.to_dict(),)


def _plain_map(m: Mapping) -> dict:
    return {k: (_plain_map(v) if isinstance(v, Mapping) else _plain(v)) for k, v in m.items()}


class UnionValue:
    """A decoded union: keeps the raw bytes; reading a member decodes it.
    ``to_dict()`` decodes every member. Equal when the bytes are equal."""

    __slots__ = ("_raw",)
    _raw: bytes
    _codec: "UnionCodec"
    _fields: tuple = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        c = type(self)._codec
        if args and kwargs or len(args) > 1:
            raise TypeError(f"{type(self).__name__}(): give one mapping or keyword members")
        obj = args[0] if args else kwargs
        object.__setattr__(self, "_raw", c.encode(obj))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use _replace({name}=...)")

    def _items(self) -> list:
        out = []
        c = self._codec
        for i, f in enumerate(c.fields):
            v = c._getters[i](self._raw)
            if f.anon:
                out.extend(v._items())
            else:
                out.append((f.name, v))
        return out

    def __repr__(self) -> str:
        try:
            body = ", ".join(f"{k}={v!r}" for k, v in self._items())
        except CodecError:  # pragma: no cover - members that cannot be decoded
            body = f"raw={self._raw!r}"
        return f"{type(self).__name__}({body})"

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            return self._raw == other._raw  # type: ignore[attr-defined]
        if isinstance(other, Mapping):
            return self._raw == self._codec.encode(other)
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._raw))

    def to_dict(self) -> dict:
        """Every member decoded, ``{member: value}``."""
        return {k: _plain(v) for k, v in self._items()}

    _asdict = to_dict

    def _replace(self, **changes: Any) -> "UnionValue":
        """A copy with ``changes`` written over this value's bytes, in order."""
        return self._codec._overlay(bytearray(self._raw), changes)  # type: ignore[no-any-return]

    def __bytes__(self) -> bytes:
        return self._raw


def asdict(value: Any) -> Any:
    """A struct/union value as nested dicts (lists and scalars unchanged); safe
    even when a member shadows ``to_dict``."""
    if isinstance(value, StructValue):
        return StructValue.to_dict(value)
    if isinstance(value, UnionValue):
        return UnionValue.to_dict(value)
    return _plain(value)
