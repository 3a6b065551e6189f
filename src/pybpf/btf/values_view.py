"""Global variables of a data section as attributes (:class:`DatasecView`).

::

    view = DatasecView(btf, btf.find(".bss", "datasec"), buffer)
    view.counter            # decoded from its offset in buffer
    view.counter = 5        # encoded in place
    view["counter"]         # same, for names shadowed by methods
    view.to_dict()

``buffer`` is anything supporting the buffer protocol: a ``bytearray``, a
writable ``memoryview`` over an ``mmap`` of an array map, or read-only
``bytes`` (writes then raise :class:`~pybpf.btf.values_scalar.ReadOnlyError`).

The owner of the buffer (a loaded :class:`pybpf.Object` for its ``.bss`` & co.) ends a
view with :meth:`DatasecView._dsv_release` before it unmaps the memory: every later
access raises :class:`~pybpf.errors.ClosedError`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import BTFError, ClosedError
from .types import Kind, Type
from .values_scalar import Codec, CodecError, ReadOnlyError

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = ["DatasecView", "VarInfo", "release_views"]



def release_views(refs: "list[weakref.ref[memoryview]]") -> "list[weakref.ref[memoryview]]":
    """Release the live memoryviews behind ``refs``; returns the refs of those that could not
    be released because a buffer exported from them is still in use."""
    busy = []
    for ref in refs:
        mv = ref()
        if mv is None:
            continue
        try:
            mv.release()
        except BufferError:
            busy.append(ref)
    return busy

class VarInfo:
    """One variable of a view: ``name``, byte ``offset``, ``size``, ``codec``, BTF ``var``."""

    __slots__ = ("name", "offset", "size", "codec", "var")

    def __init__(self, name: str, offset: int, size: int, codec: Codec, var: Type) -> None:
        self.name, self.offset, self.size, self.codec, self.var = name, offset, size, codec, var

    def __repr__(self) -> str:
        return f"VarInfo({self.name!r}, offset={self.offset}, size={self.size}, {self.codec.name})"


class DatasecView:
    """Attribute access to the variables of a ``DATASEC`` living in ``buffer``.

    ``static_vars``: also expose variables with static linkage (default True;
    the BPF skeleton exposes only globals). Unknown names raise
    AttributeError listing the variables.
    """

    __slots__ = ("_dsv_vars", "_dsv_mv", "_dsv_name", "_dsv_buf", "_dsv_raws")

    def __init__(self, btf: "BTF", datasec: "Type | int | str", buffer: Any, *, static_vars: bool = True) -> None:
        from .values import _lookup, codec_for
        ds = _lookup(btf, datasec)
        if isinstance(datasec, str) and ds.kind != Kind.DATASEC:
            ds = btf.find(datasec, Kind.DATASEC)
        if ds.kind != Kind.DATASEC:
            raise BTFError(f"DatasecView needs a DATASEC type, not {btf.type_name(ds)}")
        mv = memoryview(buffer)
        if mv.ndim != 1 or mv.itemsize != 1:
            mv = mv.cast("B")
        vars_: dict[str, VarInfo] = {}
        for vs in ds.vars:  # type: ignore[attr-defined]
            v = vs.type
            if v.kind != Kind.VAR or not v.name or v.name in vars_:
                continue
            if not static_vars and int(v.linkage) == 0:
                continue
            c = codec_for(btf, v.type)
            size = vs.size or c.size
            if size != c.size:
                raise BTFError(f"{ds.name}: variable {v.name} is {size} bytes but its type {c.name} is {c.size}")
            vars_[v.name] = VarInfo(v.name, vs.offset, size, c, v)
        object.__setattr__(self, "_dsv_vars", vars_)
        object.__setattr__(self, "_dsv_mv", mv)
        object.__setattr__(self, "_dsv_name", ds.name)
        object.__setattr__(self, "_dsv_buf", buffer)
        object.__setattr__(self, "_dsv_raws", [])

    def _dsv_release(self) -> None:
        """End this view: release its memoryview and those :meth:`raw` handed out (so that
        the owner can unmap the buffer); later access raises ClosedError. Idempotent."""
        mv = self._dsv_mv
        if mv is None:
            return
        object.__setattr__(self, "_dsv_mv", None)
        object.__setattr__(self, "_dsv_buf", None)
        # a view some exported buffer still holds stays: the owner's unmap reports it
        object.__setattr__(self, "_dsv_raws", release_views(self._dsv_raws))
        mv.release()

    def _dsv_closed(self) -> ClosedError:
        return ClosedError(f"section {self._dsv_name} is closed (its object or map was closed)")

    # -- access ------------------------------------------------------------------
    def _var(self, name: str) -> VarInfo:
        vi = self._dsv_vars.get(name)
        if vi is None:
            raise AttributeError(f"section {self._dsv_name} has no variable {name!r} "
                                 f"(variables: {', '.join(self._dsv_vars) or 'none'})")
        return vi

    def _slice(self, vi: VarInfo) -> memoryview:
        mv = self._dsv_mv
        if mv is None:
            raise self._dsv_closed()
        end = vi.offset + vi.size
        if end > mv.nbytes:
            raise BTFError(f"section {self._dsv_name}: variable {vi.name} ends at byte {end}, "
                           f"past the {mv.nbytes}-byte buffer")
        return mv[vi.offset:end]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_dsv_"):
            raise AttributeError(name)
        vi = self._var(name)
        return vi.codec.decode(self._slice(vi))

    def __setattr__(self, name: str, value: Any) -> None:
        vi = self._var(name)
        sl = self._slice(vi)
        if sl.readonly:
            raise ReadOnlyError(f"section {self._dsv_name} is read-only (frozen or mapped read-only); "
                                f"cannot set {name}")
        data = vi.codec.encode(value)
        sl[:] = data

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete variable {name!r}")

    def __getitem__(self, name: str) -> Any:
        vi = self._dsv_vars.get(name)
        if vi is None:
            raise KeyError(f"section {self._dsv_name} has no variable {name!r} "
                           f"(variables: {', '.join(self._dsv_vars) or 'none'})")
        return vi.codec.decode(self._slice(vi))

    def __setitem__(self, name: str, value: Any) -> None:
        self.__setattr__(name, value)

    def __contains__(self, name: object) -> bool:
        return name in self._dsv_vars

    def __iter__(self) -> Iterator[str]:
        return iter(self._dsv_vars)

    def __len__(self) -> int:
        return len(self._dsv_vars)

    def __dir__(self) -> list[str]:
        return sorted(self._dsv_vars)

    # -- helpers -------------------------------------------------------------------
    @property
    def variables(self) -> dict[str, VarInfo]:
        """``{name: VarInfo}`` in section order."""
        return dict(self._dsv_vars)

    @property
    def readonly(self) -> bool:
        """True if the buffer cannot be written."""
        mv = self._dsv_mv
        if mv is None:
            raise self._dsv_closed()
        return bool(mv.readonly)

    def raw(self, name: str) -> memoryview:
        """The bytes of variable ``name`` (a view into the buffer, released with the view)."""
        sl = self._slice(self._var(name))
        self._dsv_raws[:] = [r for r in self._dsv_raws if r() is not None]
        self._dsv_raws.append(weakref.ref(sl))
        return sl

    def to_dict(self) -> dict[str, Any]:
        """Every variable decoded."""
        from .values_objects import _plain
        return {n: _plain(vi.codec.decode(self._slice(vi))) for n, vi in self._dsv_vars.items()}

    def update(self, values: "dict[str, Any] | None" = None, **kw: Any) -> None:
        """Set several variables at once (all are encoded before any is written)."""
        items = {**(values or {}), **kw}
        encoded = []
        for n, v in items.items():
            vi = self._var(n)
            try:
                encoded.append((self._slice(vi), vi.codec.encode(v)))
            except CodecError as e:
                raise CodecError(f"{self._dsv_name}.{n}: {e}") from None
        for sl, data in encoded:
            if sl.readonly:
                raise ReadOnlyError(f"section {self._dsv_name} is read-only; cannot update it")
            sl[:] = data

    def __repr__(self) -> str:
        if self._dsv_mv is None:
            return f"<DatasecView {self._dsv_name} closed>"
        try:
            body = ", ".join(f"{k}={v!r}" for k, v in
                             ((n, vi.codec.decode(self._slice(vi))) for n, vi in self._dsv_vars.items()))
        except (BTFError, CodecError):
            body = ", ".join(self._dsv_vars)
        return f"<DatasecView {self._dsv_name} {body}>"
