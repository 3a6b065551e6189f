"""pybpf: the user-space side of eBPF in pure Python.

Maps, programs, the assembler, the object loader, attach points and event
streams, down to the syscalls through ctypes — no kernel headers, no compiler
at run time.
"""

from __future__ import annotations

__version__ = "0.1.0"

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .errors import (
    AssemblerError,
    BPFError,
    BTFError,
    ClosedError,
    CompileError,
    ELFError,
    Error,
    FormatError,
    NotFoundError,
    NotSupportedError,
    PermissionError_,
    StructOpsError,
    VerifierError,
)

# Everything else is imported on first use (PEP 562), so `import pybpf.btf` or the CLI
# pay only for what they touch.
_LAZY: dict[str, str] = {
    **{n: "._sys.consts" for n in (
        "ANY", "EXIST", "F_LOCK", "NOEXIST", "AttachFlags", "AttachType", "LinkType", "MapFlags", "MapType",
        "ProgFlags", "ProgramType", "StatsType", "TestRunFlags", "UpdateFlags")},
    "num_possible_cpus": "._sys.cpu", "possible_cpus": "._sys.cpu",
    **{n: ".introspect" for n in (
        "BTFInfo", "LinkInfo", "MapInfo", "ProgramInfo", "btfs", "enable_stats", "maps", "programs")},
    "Map": ".map", "lpm_key": ".map",
    "Program": ".prog", "TestRunResult": ".prog", "VerifierStats": ".prog",
    "MapSpec": ".spec", "ProgramSpec": ".spec",
    "open": ".object", "load": ".object", "Object": ".object", "ObjectSpec": ".elf",
    **{n: "._sys.perf" for n in ("PerfType", "SwEvent", "HwEvent")},
    **{n: ".events" for n in ("RingBuffer", "UserRingBuffer", "PerfBuffer", "trace_pipe", "TraceInstance")},
}


def __getattr__(name: str) -> Any:
    import importlib  # here, not at the top: the CLI's start-up does not need it

    if name == "links":
        # the pybpf.links package: callable (pybpf.links() lists kernel links) and holds attach_*
        return importlib.import_module(".links", __name__)
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'pybpf' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from ._sys.consts import (ANY, EXIST, F_LOCK, NOEXIST, AttachFlags, AttachType, LinkType, MapFlags,
                              MapType, ProgFlags, ProgramType, StatsType, TestRunFlags, UpdateFlags)
    from ._sys.cpu import num_possible_cpus, possible_cpus
    from . import links
    from .introspect import BTFInfo, LinkInfo, MapInfo, ProgramInfo, btfs, enable_stats, maps, programs
    from .map import Map, lpm_key
    from .prog import Program, TestRunResult, VerifierStats
    from .spec import MapSpec, ProgramSpec
    from ._sys.perf import HwEvent, PerfType, SwEvent
    from .events import PerfBuffer, RingBuffer, TraceInstance, UserRingBuffer, trace_pipe
    from .elf import ObjectSpec
    from .object import Object, load, open

__all__ = [
    "__version__",
    "ANY", "EXIST", "F_LOCK", "NOEXIST",
    "AttachFlags", "AttachType", "LinkType", "MapFlags", "MapType", "ProgFlags", "ProgramType", "StatsType",
    "TestRunFlags", "UpdateFlags",
    "num_possible_cpus", "possible_cpus",
    "AssemblerError", "BPFError", "BTFError", "ClosedError", "CompileError", "ELFError", "Error", "FormatError",
    "NotFoundError", "NotSupportedError", "PermissionError_", "StructOpsError", "VerifierError",
    "BTFInfo", "LinkInfo", "MapInfo", "ProgramInfo", "btfs", "enable_stats", "links", "maps", "programs",
    "PerfType", "SwEvent", "HwEvent", "RingBuffer", "UserRingBuffer", "PerfBuffer", "trace_pipe", "TraceInstance",
    "Map", "lpm_key", "Program", "TestRunResult", "VerifierStats", "MapSpec", "ProgramSpec",
    "open", "load", "ObjectSpec", "Object",
]
