"""BTF type objects.

Every BTF kind has a small class with ``__slots__``. Types parsed from a
:class:`~pybpf.btf.spec.BTF` hold references to other types as *integer ids*
and resolve them lazily through their owning BTF (``member.type`` decodes the
target on first use, ``member.type_id`` is the plain int). Types you build
yourself may reference other :class:`Type` objects directly; the
:class:`~pybpf.btf.writer.Builder` assigns ids when it encodes them.

The classes know nothing about the wire format: decoding lives in
:mod:`pybpf.btf.spec`, encoding in :mod:`pybpf.btf.writer`.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Iterator, Union

from ..errors import BTFError

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = [
    "Kind", "IntEncoding", "Linkage", "TypeNotFound", "MemberNotFound",
    "Type", "Void", "VOID", "Int", "Ptr", "Array", "Struct", "Union", "Member",
    "Enum", "Enum64", "EnumValue", "Fwd", "Typedef", "Volatile", "Const",
    "Restrict", "Func", "FuncProto", "Param", "Var", "Datasec", "VarSecinfo",
    "Float", "DeclTag", "TypeTag", "Ref", "type_refs",
]


class Kind(IntEnum):
    """BTF kinds, numbered as in ``include/uapi/linux/btf.h``."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19

    @classmethod
    def coerce(cls, value: "Kind | int | str | type[Type]") -> "Kind":
        """A Kind from a Kind, its number, its name (``"struct"``, ``"FUNC_PROTO"``) or a Type class."""
        if isinstance(value, type) and issubclass(value, Type):
            return value.kind
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise ValueError(f"unknown BTF kind {value!r}") from None
        return cls(value)


class IntEncoding(IntFlag):
    """``BTF_INT_*`` encoding bits of an :class:`Int`."""

    NONE = 0
    SIGNED = 1
    CHAR = 2
    BOOL = 4


class Linkage(IntEnum):
    """Linkage of a :class:`Func` (``BTF_FUNC_*``) or :class:`Var` (``BTF_VAR_*``)."""

    STATIC = 0
    GLOBAL = 1  # BTF_FUNC_GLOBAL / BTF_VAR_GLOBAL_ALLOCATED
    EXTERN = 2  # BTF_FUNC_EXTERN / BTF_VAR_GLOBAL_EXTERN


def _linkage(value: int) -> "Linkage | int":
    try:
        return Linkage(value)
    except ValueError:
        return value


class TypeNotFound(BTFError, KeyError):
    """No type with the requested id or name (and kind)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class MemberNotFound(BTFError, KeyError):
    """A struct/union has no member with the requested name/path."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


#: A reference to another type: its id in the owning BTF, or a Type object.
Ref = Union[int, "Type"]


def _deref(btf: "BTF | None", ref: Ref) -> "Type":
    if isinstance(ref, Type):
        return ref
    if ref == 0:
        return VOID
    if btf is None:
        raise BTFError(f"type id {ref} cannot be resolved: the referring type belongs to no BTF")
    return btf[ref]


def _ref_id(ref: Ref) -> "int | None":
    return ref.id if isinstance(ref, Type) else ref


def _ref_repr(ref: Ref) -> str:
    if isinstance(ref, Type):
        if ref.id is not None:
            return f"#{ref.id}"
        return f"{type(ref).__name__}({ref.name!r})" if ref.name else type(ref).__name__
    return f"#{ref}"


class _TypeRef:
    """``type`` / ``type_id`` for anything holding one type reference (``_type``, owned by ``_btf``)."""

    __slots__ = ()
    _btf: Any
    _type: "Ref"

    @property
    def type(self) -> "Type":
        """The referenced type (decoded on demand)."""
        return _deref(self._btf, self._type)

    @property
    def type_id(self) -> int | None:
        """The referenced type's id."""
        return _ref_id(self._type)


class Type:
    """Base class of all BTF types.

    ``id`` is the type's id in its BTF (``None`` for a type built by hand and
    not parsed), ``name`` its name (``""`` when anonymous), ``kind`` its
    :class:`Kind`. ``btf`` is the owning BTF, if any.
    """

    __slots__ = ("id", "name", "_btf")
    kind: ClassVar[Kind] = Kind.UNKN

    def __init__(self, name: str = "") -> None:
        self.id: int | None = None
        self.name = name
        self._btf: Any = None

    @property
    def btf(self) -> "BTF | None":
        """The BTF this type was parsed from (None for hand-built types)."""
        return self._btf

    def _fields(self) -> str:
        return f"name={self.name!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._fields()})"


class Void(Type):
    """The ``void`` type, id 0 in every BTF."""

    __slots__ = ()
    kind = Kind.UNKN

    def __init__(self) -> None:
        super().__init__("")
        self.id = 0

    def __repr__(self) -> str:
        return "Void()"


VOID = Void()


class Int(Type):
    """An integer (``BTF_KIND_INT``): ``size`` in bytes, ``bits`` used bits at bit ``offset``."""

    __slots__ = ("size", "encoding", "bits", "offset")
    kind = Kind.INT

    def __init__(self, name: str, size: int, *, signed: bool = False, char: bool = False,
                 bool: bool = False, bits: int | None = None, offset: int = 0,
                 encoding: int | None = None) -> None:
        super().__init__(name)
        self.size = size
        if encoding is None:
            encoding = (1 if signed else 0) | (2 if char else 0) | (4 if bool else 0)
        self.encoding = IntEncoding(encoding)
        self.bits = size * 8 if bits is None else bits
        self.offset = offset

    def _fields(self) -> str:
        flags = [f.name.lower() for f in (IntEncoding.SIGNED, IntEncoding.CHAR, IntEncoding.BOOL)
                 if self.encoding & f]
        extra = "" if self.bits == self.size * 8 and not self.offset else f", bits={self.bits}, offset={self.offset}"
        return f"name={self.name!r}, size={self.size}" + "".join(", " + f for f in flags) + extra

    @property
    def signed(self) -> bool:
        """``BTF_INT_SIGNED``."""
        return bool(self.encoding & IntEncoding.SIGNED)

    @property
    def char(self) -> bool:
        """``BTF_INT_CHAR``."""
        return (self.encoding & IntEncoding.CHAR) != 0

    @property
    def bool(self) -> bool:  # noqa: A003 - mirrors BTF_INT_BOOL
        """``BTF_INT_BOOL``."""
        return (self.encoding & IntEncoding.BOOL) != 0


class _RefType(Type):
    """A kind whose only payload is one type reference (``size_or_type``)."""

    __slots__ = ("_type",)

    def __init__(self, type: Ref, name: str = "") -> None:  # noqa: A002
        super().__init__(name)
        self._type = type

    @property
    def type(self) -> Type:
        """The referenced type (decoded on demand)."""
        return _deref(self._btf, self._type)

    @type.setter
    def type(self, value: Ref) -> None:
        self._type = value

    @property
    def type_id(self) -> int | None:
        """The referenced type's id."""
        return _ref_id(self._type)

    def _fields(self) -> str:
        pre = f"name={self.name!r}, " if self.name else ""
        return f"{pre}type={_ref_repr(self._type)}"


class Ptr(_RefType):
    """A pointer to ``type``."""

    __slots__ = ()
    kind = Kind.PTR


class Typedef(_RefType):
    """``typedef type name;``."""

    __slots__ = ()
    kind = Kind.TYPEDEF

    def __init__(self, name: str, type: Ref) -> None:  # noqa: A002
        super().__init__(type, name)


class Volatile(_RefType):
    """``volatile type``."""

    __slots__ = ()
    kind = Kind.VOLATILE


class Const(_RefType):
    """``const type``."""

    __slots__ = ()
    kind = Kind.CONST


class Restrict(_RefType):
    """``type restrict``."""

    __slots__ = ()
    kind = Kind.RESTRICT


class TypeTag(_RefType):
    """``__attribute__((btf_type_tag(name)))`` on ``type``; ``attribute`` is the kind_flag."""

    __slots__ = ("attribute",)
    kind = Kind.TYPE_TAG

    def __init__(self, name: str, type: Ref, attribute: bool = False) -> None:  # noqa: A002
        super().__init__(type, name)
        self.attribute = attribute


class Array(_TypeRef, Type):
    """``type[nelems]``, indexed by ``index_type``."""

    __slots__ = ("_type", "_index_type", "nelems")
    kind = Kind.ARRAY

    def __init__(self, type: Ref, index_type: Ref, nelems: int) -> None:  # noqa: A002
        super().__init__("")
        self._type = type
        self._index_type = index_type
        self.nelems = nelems

    @property
    def index_type(self) -> Type:
        """Index type (usually an Int)."""
        return _deref(self._btf, self._index_type)

    @property
    def index_type_id(self) -> int | None:
        """Index type id."""
        return _ref_id(self._index_type)

    def _fields(self) -> str:
        return f"type={_ref_repr(self._type)}, nelems={self.nelems}"


class Member(_TypeRef):
    """A struct/union member. ``bit_offset`` from the start of the struct;
    ``bitfield_size`` is 0 unless the member is a bitfield."""

    __slots__ = ("name", "_type", "bit_offset", "bitfield_size", "_btf")

    def __init__(self, name: str, type: Ref, bit_offset: int = 0, bitfield_size: int = 0) -> None:  # noqa: A002
        self.name = name
        self._type = type
        self.bit_offset = bit_offset
        self.bitfield_size = bitfield_size
        self._btf: Any = None

    @property
    def byte_offset(self) -> int:
        """``bit_offset // 8``."""
        return self.bit_offset // 8

    def __repr__(self) -> str:
        bf = f", bitfield_size={self.bitfield_size}" if self.bitfield_size else ""
        return f"Member(name={self.name!r}, type={_ref_repr(self._type)}, bit_offset={self.bit_offset}{bf})"


class _Composite(Type):
    __slots__ = ("size", "members", "kind_flag")

    def __init__(self, name: str, size: int, members: Iterable[Member] = (),
                 *, kind_flag: bool | None = None) -> None:
        super().__init__(name)
        self.size = size
        self.members: list[Member] = list(members)
        #: The encoded kind_flag (bitfield offsets packed); None: decided by the writer.
        self.kind_flag = kind_flag

    def member(self, name: str) -> Member:
        """The direct member called ``name`` (MemberNotFound if none)."""
        for m in self.members:
            if m.name == name:
                return m
        raise MemberNotFound(f"{type(self).__name__.lower()} {self.name or '(anon)'} has no member {name!r}")

    def _fields(self) -> str:
        n = len(self.members)
        return f"name={self.name!r}, size={self.size}, {n} member{'s' if n != 1 else ''}"


class Struct(_Composite):
    """``struct name { members }``."""

    __slots__ = ()
    kind = Kind.STRUCT


class Union(_Composite):
    """``union name { members }``."""

    __slots__ = ()
    kind = Kind.UNION


class EnumValue:
    """One enumerator."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: int) -> None:
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"EnumValue({self.name!r}, {self.value})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumValue) and (self.name, self.value) == (other.name, other.value)

    def __hash__(self) -> int:
        return hash((self.name, self.value))


class _EnumBase(Type):
    __slots__ = ("size", "values", "signed")

    def __init__(self, name: str, size: int, values: Iterable[EnumValue] = (), signed: bool = False) -> None:
        super().__init__(name)
        self.size = size
        self.values: list[EnumValue] = list(values)
        self.signed = signed

    def value(self, name: str) -> int:
        """The value of enumerator ``name`` (MemberNotFound if absent)."""
        for v in self.values:
            if v.name == name:
                return v.value
        raise MemberNotFound(f"enum {self.name or '(anon)'} has no enumerator {name!r}")

    def _fields(self) -> str:
        n = len(self.values)
        sg = ", signed" if self.signed else ""
        return f"name={self.name!r}, size={self.size}{sg}, {n} value{'s' if n != 1 else ''}"


class Enum(_EnumBase):
    """A 32-bit-valued enum (``BTF_KIND_ENUM``); ``signed`` is the kind_flag."""

    __slots__ = ()
    kind = Kind.ENUM

    def __init__(self, name: str, size: int = 4, values: Iterable[EnumValue] = (), signed: bool = False) -> None:
        super().__init__(name, size, values, signed)


class Enum64(_EnumBase):
    """A 64-bit-valued enum (``BTF_KIND_ENUM64``)."""

    __slots__ = ()
    kind = Kind.ENUM64

    def __init__(self, name: str, size: int = 8, values: Iterable[EnumValue] = (), signed: bool = False) -> None:
        super().__init__(name, size, values, signed)


class Fwd(Type):
    """A forward declaration: ``struct name;`` or, if ``is_union``, ``union name;``."""

    __slots__ = ("is_union",)
    kind = Kind.FWD

    def __init__(self, name: str, is_union: bool = False) -> None:
        super().__init__(name)
        self.is_union = is_union

    def _fields(self) -> str:
        return f"name={self.name!r}" + (", union" if self.is_union else "")


class Func(Type):
    """A function: ``name`` with prototype ``proto`` (a :class:`FuncProto`)."""

    __slots__ = ("_type", "linkage")
    kind = Kind.FUNC

    def __init__(self, name: str, proto: Ref, linkage: "Linkage | int" = Linkage.STATIC) -> None:
        super().__init__(name)
        self._type = proto
        self.linkage = _linkage(linkage)

    @property
    def proto(self) -> "FuncProto":
        """The function's prototype."""
        return _deref(self._btf, self._type)  # type: ignore[return-value]

    @property
    def proto_id(self) -> int | None:
        """The prototype's id."""
        return _ref_id(self._type)

    type = proto
    type_id = proto_id

    def _fields(self) -> str:
        ln = self.linkage.name.lower() if isinstance(self.linkage, Linkage) else self.linkage
        return f"name={self.name!r}, proto={_ref_repr(self._type)}, linkage={ln}"


class Param(_TypeRef):
    """A function parameter; a trailing ``Param("", 0)`` marks ``...``."""

    __slots__ = ("name", "_type", "_btf")

    def __init__(self, name: str, type: Ref) -> None:  # noqa: A002
        self.name = name
        self._type = type
        self._btf: Any = None

    def __repr__(self) -> str:
        return f"Param(name={self.name!r}, type={_ref_repr(self._type)})"


class FuncProto(Type):
    """A function prototype: ``return_type (params...)``."""

    __slots__ = ("_type", "params")
    kind = Kind.FUNC_PROTO

    def __init__(self, return_type: Ref, params: Iterable[Param] = ()) -> None:
        super().__init__("")
        self._type = return_type
        self.params: list[Param] = list(params)

    @property
    def return_type(self) -> Type:
        """The return type (:data:`VOID` for ``void``)."""
        return _deref(self._btf, self._type)

    @property
    def return_type_id(self) -> int | None:
        """The return type's id."""
        return _ref_id(self._type)

    type = return_type
    type_id = return_type_id

    @property
    def variadic(self) -> bool:
        """True if the last parameter is the ``...`` marker."""
        if not self.params:
            return False
        last = self.params[-1]
        return not last.name and last.type_id == 0

    def _fields(self) -> str:
        return f"return_type={_ref_repr(self._type)}, {len(self.params)} params"


class Var(_TypeRef, Type):
    """A variable (in a :class:`Datasec`)."""

    __slots__ = ("_type", "linkage")
    kind = Kind.VAR

    def __init__(self, name: str, type: Ref, linkage: "Linkage | int" = Linkage.STATIC) -> None:  # noqa: A002
        super().__init__(name)
        self._type = type
        self.linkage = _linkage(linkage)

    def _fields(self) -> str:
        ln = self.linkage.name.lower() if isinstance(self.linkage, Linkage) else self.linkage
        return f"name={self.name!r}, type={_ref_repr(self._type)}, linkage={ln}"


class VarSecinfo(_TypeRef):
    """One variable of a :class:`Datasec`: ``type`` (a Var or Func) at ``offset``, ``size`` bytes."""

    __slots__ = ("_type", "offset", "size", "_btf")

    def __init__(self, type: Ref, offset: int, size: int) -> None:  # noqa: A002
        self._type = type
        self.offset = offset
        self.size = size
        self._btf: Any = None

    def __repr__(self) -> str:
        return f"VarSecinfo(type={_ref_repr(self._type)}, offset={self.offset}, size={self.size})"


class Datasec(Type):
    """An ELF data section (``.data``, ``.bss``, ``.kconfig``, ...) with its variables."""

    __slots__ = ("size", "vars")
    kind = Kind.DATASEC

    def __init__(self, name: str, size: int = 0, vars: Iterable[VarSecinfo] = ()) -> None:  # noqa: A002
        super().__init__(name)
        self.size = size
        self.vars: list[VarSecinfo] = list(vars)

    def _fields(self) -> str:
        return f"name={self.name!r}, size={self.size}, {len(self.vars)} vars"


class Float(Type):
    """A floating point type of ``size`` bytes."""

    __slots__ = ("size",)
    kind = Kind.FLOAT

    def __init__(self, name: str, size: int) -> None:
        super().__init__(name)
        self.size = size

    def _fields(self) -> str:
        return f"name={self.name!r}, size={self.size}"


class DeclTag(_TypeRef, Type):
    """``btf_decl_tag(name)`` on ``type``; ``component_idx`` is -1 for the type itself,
    else the member/parameter index. ``attribute`` is the kind_flag."""

    __slots__ = ("_type", "component_idx", "attribute")
    kind = Kind.DECL_TAG

    def __init__(self, name: str, type: Ref, component_idx: int = -1, attribute: bool = False) -> None:  # noqa: A002
        super().__init__(name)
        self._type = type
        self.component_idx = component_idx
        self.attribute = attribute

    def _fields(self) -> str:
        return f"name={self.name!r}, type={_ref_repr(self._type)}, component_idx={self.component_idx}"


def type_refs(t: Type) -> Iterator[tuple[Any, Ref]]:
    """Every type reference ``t`` holds, as ``(owning BTF or None, ref)`` pairs in
    encoding order; ``ref`` is an id (resolve it with ``owner[ref]``) or a Type."""
    if isinstance(t, (_RefType, Func, Var, DeclTag)):
        yield t._btf, t._type
    elif isinstance(t, Array):
        yield t._btf, t._type
        yield t._btf, t._index_type
    elif isinstance(t, _Composite):
        for m in t.members:
            yield m._btf, m._type
    elif isinstance(t, FuncProto):
        yield t._btf, t._type
        for p in t.params:
            yield p._btf, p._type
    elif isinstance(t, Datasec):
        for v in t.vars:
            yield v._btf, v._type


#: Kind number -> class (None for UNKN).
KIND_CLASSES: dict[Kind, type[Type]] = {
    cls.kind: cls for cls in (Int, Ptr, Array, Struct, Union, Enum, Fwd, Typedef, Volatile, Const,
                              Restrict, Func, FuncProto, Var, Datasec, Float, DeclTag, TypeTag, Enum64)
}

#: Kinds :meth:`BTF.resolve` skips.
MODIFIER_KINDS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})
