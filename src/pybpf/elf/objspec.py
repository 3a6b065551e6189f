""":class:`ObjectSpec`: everything a BPF object file describes, editable before load.

An ObjectSpec is pure data (no kernel access): programs (linked, with symbolic
map/extern references), maps, global data and its typed views, externs, the
object's BTF. ``spec.load()`` hands it to :mod:`pybpf.object`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Iterator

from ..btf.ext import BTFExt, CoreRelo
from ..btf.types import Datasec, Var
from ..errors import Error
from ..spec import ProgramSpec
from .dataview import datasec_view
from .externs import ExternSpec
from .maps import ObjectMapSpec
from .sections import SecDef

if TYPE_CHECKING:
    from ..btf import BTF
    from ..object import Object

__all__ = ["ObjectSpec", "ObjectProgramSpec", "Variable", "MapDict", "MissingSectionError"]


class MissingSectionError(Error, AttributeError, KeyError):
    """The object has no such global-data section, or no BTF describing it
    (``obj.bss`` on an object without ``.bss``).

    Also an :class:`AttributeError`, so ``hasattr(obj, "bss")`` is simply False, and a
    :class:`KeyError` (what these lookups raised before). ``section`` names the section.
    """

    def __init__(self, message: str, section: str = "") -> None:
        super().__init__(message)
        self.section = section

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _global_sections(maps: Any) -> str:
    names = sorted(k for k, m in maps.items() if getattr(m, "internal", False))
    return ", ".join(names) or "none"


@dataclasses.dataclass
class ObjectProgramSpec(ProgramSpec):
    """A :class:`~pybpf.spec.ProgramSpec` read from an object file.

    ``instructions`` are linked (used subprograms appended); map, global-data
    and extern references carry ``Instruction.symbol``. ``core_relos`` are the
    CO-RE relocations as (slot index, record); ``sec_def`` the matched
    ``SEC()`` entry; ``subprograms`` the appended functions in order.
    """

    sec_def: SecDef | None = None
    core_relos: list[tuple[int, CoreRelo]] = dataclasses.field(default_factory=list)
    subprograms: list[str] = dataclasses.field(default_factory=list)

    def copy(self) -> "ObjectProgramSpec":
        return dataclasses.replace(self, core_relos=list(self.core_relos), subprograms=list(self.subprograms),
                                   instructions=list(self.instructions) if self.instructions is not None else None)

    @property
    def sleepable(self) -> bool:
        return bool(int(self.flags) & 16)


class MapDict(dict):  # type: ignore[type-arg]
    """``dict`` of maps keyed by their object name (``".bss"`` for global data),
    also reachable by their kernel name (``"myobj.bss"``)."""

    def __missing__(self, key: str) -> Any:
        for v in self.values():
            if getattr(v, "name", None) == key:
                return v
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        return any(getattr(v, "name", None) == key for v in self.values())


@dataclasses.dataclass
class Variable:
    """A global variable: its section, offset, size and BTF type, with ``.value`` get/set."""

    name: str
    section: str
    offset: int
    size: int
    type_id: int
    _spec: "ObjectSpec" = dataclasses.field(repr=False, compare=False)

    @property
    def readonly(self) -> bool:
        return self.section.startswith(".rodata")

    @property
    def value(self) -> Any:
        return self._spec.section(self.section)[self.name]

    @value.setter
    def value(self, v: Any) -> None:
        view = self._spec.section(self.section)
        view[self.name] = v


class ObjectSpec:
    """A parsed BPF object (see :func:`pybpf.open`).

    ``programs`` and ``maps`` are dicts of editable specs; ``rodata``, ``data``,
    ``bss`` are typed views over the initial contents (``spec.rodata.pid = 42``);
    ``variables`` lists every global variable; ``externs`` the ``__kconfig`` /
    ``__ksym`` externs; ``btf`` the object's (fixed-up) BTF.
    """

    def __init__(self, name: str, *, btf: "BTF | None", btf_ext: BTFExt | None, license: str,
                 kern_version: int, maps: dict[str, ObjectMapSpec], programs: dict[str, ObjectProgramSpec],
                 externs: dict[str, ExternSpec], path: str = "") -> None:
        self.name = name
        self.path = path
        self.btf = btf
        self.btf_ext = btf_ext
        self.license = license
        self.kern_version = kern_version
        self.maps: MapDict = MapDict(maps)
        self.programs: dict[str, ObjectProgramSpec] = programs
        self.externs = externs

    def __repr__(self) -> str:
        return (f"<ObjectSpec {self.name!r}: {len(self.programs)} programs, {len(self.maps)} maps, "
                f"license {self.license!r}>")

    # ------------------------------------------------------------ global data
    def _datasec(self, section: str) -> Datasec | None:
        if self.btf is None:
            return None
        for t in self.btf.find_all(section):
            if isinstance(t, Datasec):
                return t
        return None

    def section_buffer(self, section: str) -> bytearray:
        """The initial contents of global-data section ``section`` (a live bytearray)."""
        m = self.maps.get(section)
        if m is None or not m.internal or not m.contents:
            raise MissingSectionError(f"object {self.name!r} has no global data section {section!r} "
                                      f"(it has: {_global_sections(self.maps)})", section)
        buf = m.contents[0][1]
        if not isinstance(buf, bytearray):
            buf = bytearray(buf)
            m.contents[0] = (0, buf)
        return buf

    def section(self, section: str) -> Any:
        """A typed view over the initial contents of a global-data section."""
        ds = self._datasec(section)
        if ds is None:
            self.section_buffer(section)  # no such section: say so
            raise MissingSectionError(f"object {self.name!r}: no BTF DATASEC for section {section!r} "
                                      "(compile with -g)", section)
        return datasec_view(self.btf, ds, self.section_buffer(section))  # type: ignore[arg-type]

    @property
    def rodata(self) -> Any:
        """Typed view of ``.rodata`` (set constants before load)."""
        return self.section(".rodata")

    @property
    def data(self) -> Any:
        return self.section(".data")

    @property
    def bss(self) -> Any:
        return self.section(".bss")

    @property
    def variables(self) -> dict[str, Variable]:
        """Every global variable of ``.data*``, ``.rodata*`` and ``.bss*`` sections."""
        out: dict[str, Variable] = {}
        for key, m in self.maps.items():
            if not m.internal or key == ".kconfig":
                continue
            ds = self._datasec(key)
            if ds is None:
                continue
            for v in ds.vars:
                var = self.btf[v.type_id or 0]  # type: ignore[index]
                if isinstance(var, Var) and var.name:
                    out[var.name] = Variable(var.name, key, v.offset, v.size, var.type_id or 0, self)
        return out

    # ------------------------------------------------------------ loading
    def load(self, **kwargs: Any) -> "Object":
        """Create the maps and load the programs (see :func:`pybpf.object.load_spec`)."""
        from ..object import load_spec

        return load_spec(self, **kwargs)

    def copy(self) -> "ObjectSpec":
        """An independent copy (specs and global-data buffers copied)."""
        maps = {k: v.copy() for k, v in self.maps.items()}
        for m in maps.values():
            if m.internal and m.contents:
                m.contents = [(0, bytearray(m.contents[0][1]))]
        return ObjectSpec(self.name, btf=self.btf, btf_ext=self.btf_ext, license=self.license,
                          kern_version=self.kern_version, maps=maps,
                          programs={k: v.copy() for k, v in self.programs.items()},
                          externs=dict(self.externs), path=self.path)

    def iter_programs(self, autoload_only: bool = False) -> Iterator[ObjectProgramSpec]:
        for p in self.programs.values():
            if p.autoload or not autoload_only:
                yield p
