"""The only layer of pybpf that calls into the kernel: bpf(2), perf_event_open,
ioctl, mmap and netlink through ctypes and the standard library.

Importing this package loads nothing that touches the kernel: the pure layers
(:mod:`pybpf.asm`, :mod:`pybpf.btf`, :mod:`pybpf.elf`, :mod:`pybpf.spec`) use
:mod:`pybpf._sys.consts` (UAPI enums, pure). ``from pybpf._sys import FD, bpf``
still works: those names load :mod:`pybpf._sys.syscall` on first access (PEP 562).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from .consts import AttachType, Cmd, LinkType, MapFlags, MapType, ProgFlags, ProgramType, UpdateFlags
    from .syscall import FD, bpf, bpf_raw, raise_for

__all__ = [
    "AttachType", "Cmd", "LinkType", "MapFlags", "MapType", "ProgFlags", "ProgramType", "UpdateFlags",
    "FD", "bpf", "bpf_raw", "raise_for",
]

_LAZY = {
    **{n: "consts" for n in ("AttachType", "Cmd", "LinkType", "MapFlags", "MapType", "ProgFlags", "ProgramType",
                             "UpdateFlags")},
    **{n: "syscall" for n in ("FD", "bpf", "bpf_raw", "raise_for")},
}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'pybpf._sys' has no attribute {name!r}")
    if mod == "consts":
        from . import consts as m
    else:
        from . import syscall as m  # type: ignore[no-redef]
    value = getattr(m, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
