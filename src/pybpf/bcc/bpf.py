"""``pybpf.bcc.BPF``: BCC's Python front end on pybpf (compile, load, attach, tables, events)."""

from __future__ import annotations

import atexit
import ctypes as ct
import os
import select
import sys
import time
import weakref
from typing import Any, Callable, Iterator, Optional, Sequence

from .._sys.kver import linux_version_code
from ..errors import Error
from . import _deref, kheaders, syms
from ._attach import AttachMixin, to_str
from ._loader import LazyObject
from ._trace import TraceMixin
from .consts import BPFProgType, XDPAction, XDPFlags
from .rewriter import Rewritten, include_dir, rewrite
from .table import Table

__all__ = ["BPF", "Function", "DEBUG_LLVM_IR", "DEBUG_BPF", "DEBUG_PREPROCESSOR", "DEBUG_SOURCE",
           "DEBUG_BPF_REGISTER_STATE", "DEBUG_BTF"]

DEBUG_LLVM_IR = 0x1
DEBUG_BPF = 0x2
DEBUG_PREPROCESSOR = 0x4
DEBUG_SOURCE = 0x8
DEBUG_BPF_REGISTER_STATE = 0x10
DEBUG_BTF = 0x20

_xdp_attachments: dict[tuple[int, int], Any] = {}  # (netns inode, ifindex) -> netlink XDP attachment


class Function:
    """A loaded function: ``fd``, ``name`` (bytes, as in BCC), the :class:`pybpf.Program` as ``program``."""

    def __init__(self, bpf: Any, name: str, program: Any) -> None:
        self.bpf = bpf
        self.name = name.encode()
        self.program = program
        self.type = program.type

    @property
    def fd(self) -> int:
        return int(self.program.fd)

    def __repr__(self) -> str:
        return f"<Function {self.name.decode()} {getattr(self.type, 'name', self.type)} fd={self.fd}>"


_Function = Function


def _include_dirs_of(cflags: Sequence[str]) -> list[str]:
    out, take = [], False
    for f in cflags:
        if take:
            out.append(f)
            take = False
        elif f == "-I":
            take = True
        elif f.startswith("-I"):
            out.append(f[2:])
    return out


def _cleanup_ref(ref: "weakref.ReferenceType[BPF]") -> None:
    b = ref()
    if b is not None:
        b.cleanup()


class BPF(AttachMixin, TraceMixin):
    """A BCC module: C source (BCC dialect) compiled, its tables created, its prefixed functions attached.

    ``BPF(text=...)`` or ``BPF(src_file=...)``; ``cflags`` go to the compiler; ``debug`` takes
    ``DEBUG_*`` flags (``DEBUG_SOURCE``/``DEBUG_PREPROCESSOR`` print the rewritten C,
    ``DEBUG_BPF`` the verifier log of each loaded function). ``usdt_contexts`` are
    :class:`pybpf.bcc.USDT` objects whose enabled probes are attached to their functions
    (``attach_usdt_ignore_pid``: in every process, not only the context's pid). Use as a
    context manager or call :meth:`cleanup`.
    """

    # program types, XDP actions and flags, as BCC's BPF class has them
    SOCKET_FILTER = BPFProgType.SOCKET_FILTER
    KPROBE = BPFProgType.KPROBE
    SCHED_CLS = BPFProgType.SCHED_CLS
    SCHED_ACT = BPFProgType.SCHED_ACT
    TRACEPOINT = BPFProgType.TRACEPOINT
    XDP = BPFProgType.XDP
    PERF_EVENT = BPFProgType.PERF_EVENT
    CGROUP_SKB = BPFProgType.CGROUP_SKB
    CGROUP_SOCK = BPFProgType.CGROUP_SOCK
    LWT_IN = BPFProgType.LWT_IN
    LWT_OUT = BPFProgType.LWT_OUT
    LWT_XMIT = BPFProgType.LWT_XMIT
    SOCK_OPS = BPFProgType.SOCK_OPS
    SK_SKB = BPFProgType.SK_SKB
    CGROUP_DEVICE = BPFProgType.CGROUP_DEVICE
    SK_MSG = BPFProgType.SK_MSG
    RAW_TRACEPOINT = BPFProgType.RAW_TRACEPOINT
    CGROUP_SOCK_ADDR = BPFProgType.CGROUP_SOCK_ADDR
    CGROUP_SOCKOPT = BPFProgType.CGROUP_SOCKOPT
    TRACING = BPFProgType.TRACING
    LSM = BPFProgType.LSM

    XDP_ABORTED = XDPAction.XDP_ABORTED
    XDP_DROP = XDPAction.XDP_DROP
    XDP_PASS = XDPAction.XDP_PASS
    XDP_TX = XDPAction.XDP_TX
    XDP_REDIRECT = XDPAction.XDP_REDIRECT
    XDP_FLAGS_UPDATE_IF_NOEXIST = XDPFlags.UPDATE_IF_NOEXIST
    XDP_FLAGS_SKB_MODE = XDPFlags.SKB_MODE
    XDP_FLAGS_DRV_MODE = XDPFlags.DRV_MODE
    XDP_FLAGS_HW_MODE = XDPFlags.HW_MODE
    XDP_FLAGS_REPLACE = XDPFlags.REPLACE
    CLOCK_MONOTONIC = 1

    Function = Function
    Table = staticmethod(Table)
    _syscall_prefixes = [b"sys_", b"__x64_sys_", b"__x32_compat_sys_", b"__ia32_compat_sys_", b"__arm64_sys_",
                         b"__s390x_sys_", b"__s390_sys_", b"__riscv_sys_"]

    def __init__(self, src_file: Any = b"", hdr_file: Any = b"", text: Any = None, debug: int = 0,
                 cflags: Sequence[str] = (), usdt_contexts: Sequence[Any] = (), allow_rlimit: bool = True,
                 device: Any = None, attach_usdt_ignore_pid: bool = False) -> None:
        self.kprobe_fds: dict[str, dict[str, Any]] = {}
        self.uprobe_fds: dict[str, Any] = {}
        self.tracepoint_fds: dict[str, Any] = {}
        self.raw_tracepoint_fds: dict[str, Any] = {}
        self.kfunc_entry_fds: dict[str, Any] = {}
        self.kfunc_exit_fds: dict[str, Any] = {}
        self.lsm_fds: dict[str, Any] = {}
        self.fmod_ret_fds: dict[str, Any] = {}
        self.perf_buffers: dict[Any, Any] = {}
        self.open_perf_events: dict[tuple[int, int], Any] = {}
        self._ringbuf_manager: Any = None
        self.tracefile: Any = None
        self._trace_buf = b""
        self.debug = debug
        self.funcs: dict[str, _Function] = {}
        self.tables: dict[str, Any] = {}
        self.module: Optional[LazyObject] = None
        if device is not None:
            raise Error("device offload (device=...) is not supported")
        src, hdr = to_str(src_file), to_str(hdr_file)
        if text is not None and src:
            raise ValueError("BPF() takes text or src_file, not both")
        if src:
            src = self._find_file(src)
            with open(src, "rb") as f:
                text = f.read()
        if text is None:
            raise ValueError("BPF() needs text or src_file")
        text = to_str(text)
        prelude = f'#include "{os.path.abspath(self._find_file(hdr))}"\n' if hdr else ""
        if usdt_contexts:
            prelude = "#include <bcc_usdt.h>\n" + prelude  # bpf_usdt_readarg() behind the user's macros too
        cflags = [to_str(c) for c in cflags]
        display = src or "<text>"
        self._rw: Rewritten = rewrite(text, filename=display, include_dirs=_include_dirs_of(cflags),
                                       prelude=prelude)
        from .. import elf
        from ..compile import compile

        defines = {"LINUX_VERSION_CODE": linux_version_code(), "__BCC__": None}
        incs = [include_dir()]
        kdir = kheaders.header_dir()
        if kdir is not None:
            incs.append(kdir)  # <bcc_kconfig.h> (CONFIG_*) & co., generated per kernel
        text = self._rw.text
        if _deref.wanted(self._rw):
            text = _deref.probe_reads(self._rw, cflags=cflags, include_dirs=incs, defines=defines,
                                      filename=src or None)
        if debug & (DEBUG_PREPROCESSOR | DEBUG_SOURCE):
            print(text, file=sys.stderr)
        obj = compile(text, cflags=cflags, include_dirs=incs, filename=src or None, defines=defines)
        spec = elf.open(bytes(obj), name="bcc")
        for d in self._rw.tables.values():
            ms = spec.maps.get(d.var)
            if d.cname and ms is not None:
                ms.name = d.name  # renamed C variable (__bcc_tbl_<name>): the kernel map keeps the BCC name
        log_level = 2 if debug & DEBUG_BPF_REGISTER_STATE else (1 if debug & DEBUG_BPF else 0)
        pinned = {d.var: d.pinned.strip().strip('"') for d in self._rw.tables.values() if d.pinned}
        self.module = LazyObject(spec, log_level=log_level, pinned=pinned)
        atexit.register(_cleanup_ref, weakref.ref(self))
        try:
            for usdt in usdt_contexts:
                usdt.attach_uprobes(self, attach_usdt_ignore_pid)
            self._trace_autoload()
        except BaseException:
            self.cleanup()
            raise

    # ------------------------------------------------------------------ files
    @staticmethod
    def _find_file(filename: str) -> str:
        if filename and not os.path.isfile(filename):
            t = os.path.join(os.path.abspath(os.path.dirname(sys.argv[0] or ".")), filename)
            if os.path.isfile(t):
                return t
            raise Error(f"Could not find file {filename}")
        return filename

    @staticmethod
    def find_exe(bin_path: Any) -> Optional[bytes]:
        """The first executable ``bin_path`` on PATH (or the path itself), as bytes; None if none."""
        p = to_str(bin_path)
        if os.path.dirname(p):
            return p.encode() if os.path.isfile(p) and os.access(p, os.X_OK) else None
        for d in os.environ.get("PATH", "").split(os.pathsep):
            c = os.path.join(d.strip('"'), p)
            if os.path.isfile(c) and os.access(c, os.X_OK):
                return c.encode()
        return None

    @staticmethod
    def find_library(libname: Any, pid: int = 0) -> Optional[bytes]:
        """The path of shared library ``libname`` (``"c"``, ``"libc.so.6"``...), as bytes; None if not found."""
        from ..links._elfsym import resolve_binary

        name = to_str(libname)
        if not name.startswith("lib") and "/" not in name and not name.endswith(".so"):
            name = "lib" + name
        try:
            return resolve_binary(name).encode()
        except (OSError, Error):
            return None

    # ------------------------------------------------------------------ functions
    def _function_names(self) -> list[str]:
        return self.module.program_names() if self.module is not None else []

    def load_funcs(self, prog_type: int = KPROBE) -> "list[_Function]":
        """Load every function of the module as ``prog_type``."""
        return [self.load_func(n, prog_type) for n in self._function_names()]

    def load_func(self, func_name: Any, prog_type: int, device: Any = None, attach_type: int = -1) -> "_Function":
        """Load ``func_name`` as a ``prog_type`` program (``BPF.XDP``, ``BPF.SCHED_CLS``, ``BPF.KPROBE``...)."""
        name = to_str(func_name)
        if self.module is None:
            raise Error("the BPF module is closed")
        have = self.funcs.get(name)
        if have is not None and int(have.type) == int(prog_type):
            return have
        if name not in self.module.spec.programs:
            info = self._rw.functions.get(name)
            raise Error(f"Unknown program {name}" + (" (it is static or takes no context pointer)"
                                                        if info is None else ""))
        prog = self.module.load_program(name, prog_type, attach_type)
        if self.debug & (DEBUG_BPF | DEBUG_BPF_REGISTER_STATE) and prog.verifier_log:
            print(prog.verifier_log, file=sys.stderr)
        fn = Function(self, name, prog)
        self.funcs[name] = fn
        return fn

    def dump_func(self, func_name: Any) -> bytes:
        """The function's instructions as loaded from the object (raw bytecode)."""
        from ..asm.insn import encode  # type: ignore[attr-defined]

        p = self.module.spec.programs[to_str(func_name)]  # type: ignore[union-attr]
        return bytes(encode(p.instructions))

    # ------------------------------------------------------------------ autoload
    def _trace_autoload(self) -> None:
        programs = self.module.spec.programs if self.module is not None else {}
        for name, info in self._rw.functions.items():
            kind = info.kind
            if name not in programs:
                continue  # in an #if branch that preprocessing dropped
            if kind in ("kprobe", "kretprobe"):
                self.load_func(name, self.KPROBE)
                ev = self.fix_syscall_fnname(info.target)
                if kind == "kprobe":
                    self.attach_kprobe(event=ev, fn_name=name)
                else:
                    self.attach_kretprobe(event=ev, fn_name=name)
            elif kind == "tracepoint":
                self.attach_tracepoint(tp=info.target, fn_name=name)
            elif kind == "raw_tracepoint":
                self.attach_raw_tracepoint(tp=info.target, fn_name=name)
            elif kind == "kfunc":
                self.attach_kfunc(fn_name=name)
            elif kind == "kretfunc":
                self.attach_kretfunc(fn_name=name)
            elif kind == "lsm":
                self.attach_lsm(fn_name=name)
            elif kind == "kmod_ret":
                self.attach_fmod_ret(fn_name=name)

    # ------------------------------------------------------------------ tables
    def _ctype(self, type_id: int) -> Any:
        from ..btf.values import ctypes_type

        return ctypes_type(self.module.spec.btf, type_id)  # type: ignore[union-attr,arg-type]

    def _event_type(self, table: str) -> Any:
        tname = self._rw.event_types.get(table)
        if tname is None:
            raise Error(f"cannot tell the record type of {table!r}: submit a variable declared in the "
                        "function (&data) or define a ctypes.Structure and use ctypes.cast()")
        from ..btf.values import ctypes_type

        return ctypes_type(self.module.spec.btf, tname)  # type: ignore[union-attr,arg-type]

    def get_table(self, name: Any, keytype: Any = None, leaftype: Any = None,
                  reducer: Optional[Callable[[Any, Any], Any]] = None) -> Any:
        """The table ``name`` (a :mod:`pybpf.bcc.table` object with ctypes ``Key``/``Leaf`` from BTF)."""
        n = to_str(name)
        if self.module is None:
            raise Error("the BPF module is closed")
        d = self._rw.tables.get(n)
        key = d.var if d is not None else n  # a table renamed in C is still b["<BCC name>"]
        m = self.module.maps.get(key)
        ms = self.module.spec.maps.get(key)
        if m is None or ms is None or getattr(ms, "internal", False):
            raise KeyError(name)
        if keytype is None:
            keytype = self._ctype(ms.btf_key_type_id) if ms.btf_key_type_id else _int_of(m.key_size)
        if leaftype is None:
            leaftype = self._ctype(ms.btf_value_type_id) if ms.btf_value_type_id else _int_of(m.value_size)
        return Table(self, m, keytype, leaftype, n, reducer=reducer)

    def __getitem__(self, key: Any) -> Any:
        k = to_str(key)
        if k not in self.tables:
            self.tables[k] = self.get_table(k)
        return self.tables[k]

    def __setitem__(self, key: Any, leaf: Any) -> None:
        self.tables[to_str(key)] = leaf

    def __len__(self) -> int:
        return len(self.tables)

    def __delitem__(self, key: Any) -> None:
        t = self.tables.pop(to_str(key))
        close = getattr(t, "close", None)
        if close is not None:
            close()

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    # ------------------------------------------------------------------ syscalls
    def get_syscall_prefix(self) -> bytes:
        for prefix in self._syscall_prefixes:
            if self.ksymname(prefix + b"bpf") != -1:
                return prefix
        return self._syscall_prefixes[0]

    def get_syscall_fnname(self, name: Any) -> bytes:
        """The kernel function of syscall ``name``: ``b"__x64_sys_<name>"`` (per /proc/kallsyms)."""
        n = name if isinstance(name, bytes) else str(name).encode()
        return self.get_syscall_prefix() + n

    def fix_syscall_fnname(self, name: Any) -> str:
        n = name if isinstance(name, bytes) else str(name).encode()
        for prefix in self._syscall_prefixes:
            if n.startswith(prefix):
                return self.get_syscall_fnname(n[len(prefix):]).decode()
        return n.decode()

    # ------------------------------------------------------------------ perf / ring buffers
    def perf_buffer_poll(self, timeout: int = -1) -> None:
        """Wait up to ``timeout`` ms (-1: forever) for perf buffer records and run their callbacks."""
        readers = list(self.perf_buffers.values())
        if not readers:
            return
        if len(readers) == 1:
            readers[0].poll(timeout)
            return
        p = select.poll()
        for r in readers:
            p.register(r.fileno(), select.POLLIN)
        ready = {fd for fd, _ in p.poll(None if timeout is None or timeout < 0 else timeout)}
        for r in readers:
            if r.fileno() in ready:
                r.consume()  # not poll(0): polling a perf fd clears its wakeup, the outer poll took it

    def perf_buffer_consume(self) -> None:
        for r in list(self.perf_buffers.values()):
            r.consume()

    def kprobe_poll(self, timeout: int = -1) -> None:
        self.perf_buffer_poll(timeout)

    def _open_ring_buffer(self, map: Any, callback: Callable[[memoryview], Any]) -> None:
        from ..events import RingBuffer

        if self._ringbuf_manager is None:
            self._ringbuf_manager = RingBuffer(map, callback)
        else:
            self._ringbuf_manager.add(map, callback)

    def ring_buffer_poll(self, timeout: int = -1) -> None:
        """Wait up to ``timeout`` ms (-1: forever) for ring buffer records and run their callbacks."""
        if self._ringbuf_manager is None:
            raise Error("No ring buffers to poll")
        self._ringbuf_manager.poll(timeout)

    def ring_buffer_consume(self) -> None:
        if self._ringbuf_manager is None:
            raise Error("No ring buffers to poll")
        self._ringbuf_manager.consume()

    # ------------------------------------------------------------------ symbols
    @staticmethod
    def sym(addr: int, pid: int, show_module: bool = False, show_offset: bool = False,
            demangle: bool = True) -> bytes:
        """The function containing ``addr`` in process ``pid`` (kernel for pid < 0), e.g. ``b"main"``."""
        if pid < 0:
            name, off, mod = syms.kernel_symbols().resolve(addr)
        else:
            name, off, mod = syms.user_symbols(pid).resolve(addr)
        return syms.format_symbol(name, off, mod, show_module, show_offset)

    @staticmethod
    def ksym(addr: int, show_module: bool = False, show_offset: bool = False) -> bytes:
        """The kernel function containing ``addr`` (``b"[unknown]"`` if none)."""
        name, off, mod = syms.kernel_symbols().resolve(addr)
        return syms.format_symbol(name, off, mod, show_module, show_offset)

    @staticmethod
    def ksymname(name: Any) -> int:
        """The address of kernel symbol ``name``, -1 if unknown."""
        return syms.kernel_symbols().address(to_str(name))

    # ------------------------------------------------------------------ counts
    def num_open_kprobes(self) -> int:
        return len(self.kprobe_fds)

    def num_open_uprobes(self) -> int:
        return len(self.uprobe_fds)

    def num_open_tracepoints(self) -> int:
        return len(self.tracepoint_fds)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the functions and the module (tables, programs); attachments stay if not detached."""
        self.funcs.clear()
        if self.module is not None:
            self.module.close()
            self.module = None

    def cleanup(self) -> None:
        """Detach everything, close buffers, tables and programs."""
        self._close_attachments()
        for key in list(self.tables):
            close = getattr(self.tables[key], "close", None)
            if close is not None:
                close()
        self.tables.clear()
        for r in list(self.perf_buffers.values()):
            r.close()
        self.perf_buffers.clear()
        if self._ringbuf_manager is not None:
            self._ringbuf_manager.close()
            self._ringbuf_manager = None
        self._trace_close()
        self.close()

    def __enter__(self) -> "BPF":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def donothing(self) -> None:
        """BCC compatibility: an exit handler that does nothing."""

    @classmethod
    def monotonic_time(cls) -> float:
        """CLOCK_MONOTONIC in nanoseconds (as ``bpf_ktime_get_ns()``)."""
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC) * 1.0


def _int_of(size: int) -> Any:
    return {1: ct.c_ubyte, 2: ct.c_ushort, 4: ct.c_int, 8: ct.c_ulonglong}.get(size, ct.c_ubyte * max(size, 1))


from ._static import install as _install  # noqa: E402

_install(BPF)
