"""pybpf: the user-space side of eBPF in pure Python.

Maps, programs, the assembler, the object loader, attach points and event
streams, down to the syscalls through ctypes — no kernel headers, no compiler
at run time.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._sys.consts import (
    ANY,
    EXIST,
    F_LOCK,
    NOEXIST,
    AttachFlags,
    AttachType,
    LinkType,
    MapFlags,
    MapType,
    ProgFlags,
    ProgramType,
    StatsType,
    TestRunFlags,
    UpdateFlags,
)
from ._sys.cpu import num_possible_cpus, possible_cpus
from .errors import (
    AssemblerError,
    BPFError,
    BTFError,
    CompileError,
    ELFError,
    Error,
    FormatError,
    NotFoundError,
    NotSupportedError,
    PermissionError_,
    VerifierError,
)
from .introspect import BTFInfo, LinkInfo, MapInfo, ProgramInfo, btfs, enable_stats, links, maps, programs
from .map import Map, lpm_key
from .prog import Program, TestRunResult, VerifierStats
from .spec import MapSpec, ProgramSpec

__all__ = [
    "__version__",
    "ANY", "EXIST", "F_LOCK", "NOEXIST",
    "AttachFlags", "AttachType", "LinkType", "MapFlags", "MapType", "ProgFlags", "ProgramType", "StatsType",
    "TestRunFlags", "UpdateFlags",
    "num_possible_cpus", "possible_cpus",
    "AssemblerError", "BPFError", "BTFError", "CompileError", "ELFError", "Error", "FormatError", "NotFoundError",
    "NotSupportedError", "PermissionError_", "VerifierError",
    "BTFInfo", "LinkInfo", "MapInfo", "ProgramInfo", "btfs", "enable_stats", "links", "maps", "programs",
    "Map", "lpm_key", "Program", "TestRunResult", "VerifierStats", "MapSpec", "ProgramSpec",
]
