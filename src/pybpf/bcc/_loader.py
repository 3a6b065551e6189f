"""Maps at construction, programs on demand: BCC's loading model on pybpf's loader.

BCC creates a module's tables when ``BPF(...)`` is constructed and loads each
function only when it is asked for (``load_func(name, type)``), with a type
the caller chooses.  An ELF program's type comes from its ``SEC()`` name, so
:class:`LazyObject` loads the object once with every program's autoload off
(maps, global data and BTF are created) and loads each program later from a
copy of its spec whose type, expected attach type and section are set to
what was asked for.

The per-program load reuses :mod:`pybpf.object`'s loader internals (CO-RE,
map fd patching, ksyms, BTF func/line info) with the already created maps,
so a program loaded late behaves exactly like one loaded with the object.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from .._sys.consts import AttachType, ProgramType
from ..elf import ObjectSpec
from ..elf.sections import parse_section
from ..errors import Error
from ..object import Object
from ..prog import Program

__all__ = ["LazyObject", "TYPE_SECTIONS"]

#: Program type -> the SEC() name whose libbpf definition gives its attach type and flags.
TYPE_SECTIONS: dict[int, str] = {
    ProgramType.SOCKET_FILTER: "socket", ProgramType.KPROBE: "kprobe", ProgramType.SCHED_CLS: "tc",
    ProgramType.SCHED_ACT: "action", ProgramType.TRACEPOINT: "tracepoint", ProgramType.XDP: "xdp",
    ProgramType.PERF_EVENT: "perf_event", ProgramType.CGROUP_SKB: "cgroup/skb",
    ProgramType.CGROUP_SOCK: "cgroup/sock", ProgramType.LWT_IN: "lwt_in", ProgramType.LWT_OUT: "lwt_out",
    ProgramType.LWT_XMIT: "lwt_xmit", ProgramType.SOCK_OPS: "sockops", ProgramType.SK_SKB: "sk_skb",
    ProgramType.CGROUP_DEVICE: "cgroup/dev", ProgramType.SK_MSG: "sk_msg",
    ProgramType.RAW_TRACEPOINT: "raw_tracepoint", ProgramType.FLOW_DISSECTOR: "flow_dissector",
    ProgramType.CGROUP_SYSCTL: "cgroup/sysctl", ProgramType.SK_LOOKUP: "sk_lookup",
    ProgramType.SYSCALL: "syscall", ProgramType.NETFILTER: "netfilter",
    ProgramType.CGROUP_SOCK_ADDR: "cgroup/connect4", ProgramType.CGROUP_SOCKOPT: "cgroup/getsockopt",
}
_BTF_TYPES = (ProgramType.TRACING, ProgramType.LSM, ProgramType.EXT)


class LazyObject:
    """An object whose maps exist and whose programs load one at a time (:meth:`load_program`)."""

    def __init__(self, spec: ObjectSpec, *, log_level: int = 0, pinned: Optional[dict[str, str]] = None) -> None:
        spec = spec.copy()
        for p in spec.programs.values():
            p.autoload = False
        pin_root = _pin_by_name(spec, pinned or {})
        self.log_level = log_level
        self.obj: Object = spec.load(pin_root=pin_root)
        self.spec = self.obj.spec
        self.programs: dict[str, Program] = {}

    @property
    def maps(self) -> Any:
        return self.obj.maps

    def program_names(self) -> list[str]:
        return list(self.spec.programs)

    def load_program(self, name: str, prog_type: Optional[int] = None, attach_type: Optional[int] = None,
                     *, log_level: Optional[int] = None) -> Program:
        """Load program ``name`` as ``prog_type`` (default: its section's type); a second load of
        the same name and type returns the same :class:`~pybpf.Program`."""
        if self.obj.closed:
            raise Error("the BPF module is closed")
        p = self.spec.programs.get(name)
        if p is None:
            raise KeyError(name)
        ls = p.copy()
        ls.autoload = True
        if prog_type is not None and int(prog_type) != int(p.type):
            if int(prog_type) in _BTF_TYPES or int(p.type) in _BTF_TYPES:
                raise Error(f"{name}: cannot load a {ProgramType(int(p.type)).name} function as "
                            f"{_type_name(prog_type)}; its kind is fixed by its name prefix "
                            "(kfunc__, kretfunc__, lsm__, kmod_ret__)")
            sec = TYPE_SECTIONS.get(int(prog_type))
            if sec is not None:
                info = parse_section(sec)
                ls.type = info.prog_type
                ls.expected_attach_type = info.expected_attach_type
                ls.sec_def = info.sec_def
                ls.section = sec
                ls.flags = info.prog_flags
            else:
                ls.type = prog_type  # type: ignore[assignment]
                ls.expected_attach_type = 0
                ls.sec_def = None
        if attach_type is not None and int(attach_type) >= 0:
            ls.expected_attach_type = AttachType(int(attach_type)) if int(attach_type) in \
                AttachType._value2member_map_ else int(attach_type)
        key = f"{name}\0{int(ls.type)}\0{int(ls.expected_attach_type)}"
        have = self.programs.get(key)
        if have is not None:
            return have
        prog = self.obj.load_program(ls, log_level=self.log_level if log_level is None else log_level)
        self.programs[key] = prog
        return prog

    def close(self) -> None:
        for p in self.programs.values():
            p.close()
        self.programs.clear()
        self.obj.close()


def _pin_by_name(spec: ObjectSpec, pinned: dict[str, str]) -> Optional[str]:
    """BPF_TABLE_PINNED: reuse the map pinned at each path, or create and pin it there (libbpf's
    pin-by-name, so the pinned tables of one module must share a directory)."""
    from ..elf.maps import LIBBPF_PIN_BY_NAME

    if not pinned:
        return None
    dirs = {os.path.dirname(p) for p in pinned.values()}
    if len(dirs) != 1:
        raise Error(f"BPF_TABLE_PINNED paths must share one directory, got {sorted(dirs)}")
    for name, path in pinned.items():
        ms = spec.maps[name]
        ms.pinning = LIBBPF_PIN_BY_NAME
        ms.name = os.path.basename(path)
    root = dirs.pop()
    from .._sys.fs import ensure_bpffs_for

    ensure_bpffs_for(next(iter(pinned.values())))  # mounts /sys/fs/bpf if needed, creates the directory
    os.makedirs(root, exist_ok=True)
    return root


def _type_name(t: Any) -> str:
    try:
        return ProgramType(int(t)).name
    except ValueError:
        return str(t)
