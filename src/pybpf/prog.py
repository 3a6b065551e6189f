"""BPF programs: load, verify, test-run, inspect (``pybpf.Program``).

Minimum kernel 3.18 (socket filters); each :class:`ProgramType` has its own
minimum. BPF_PROG_TEST_RUN needs 4.12 (networking types) / 5.10 (raw_tp) /
5.14 (syscall).
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import re
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from ._sys import cmds
from ._sys.attrs import ProgLoadAttr, TestRunAttr
from ._sys.consts import AttachType, Cmd, ProgramType
from ._sys.objname import check_obj_name
from ._sys.syscall import FD, bpf_raw, bump_memlock_rlimit_once, raise_for
from .errors import Error, NotSupportedError, VerifierError
from ._kobj import KernelObject
from .spec import ProgramSpec

if TYPE_CHECKING:
    from ._sys.netlink import NetnsRef
    from .asm import Instruction
    from .introspect import ProgramInfo
    from .links.iter import CgroupIterOrder, IterLink
    from .links.link import Link, MultiLink
    from .links.net import Dev, NetfilterLink, NetnsLink, SocketFilter, TcAttachment, TcxLink
    from .links.net_sock import CgroupRef
    from .links.perf_event import PerfEventLink
    from .links.tracing import RawTracepointLink
    from .links.usdt import UsdtLink

__all__ = ["Program", "ProgramSpec", "ProgramType", "AttachType", "TestRunResult", "VerifierStats"]

_LOG_MAX = (1 << 30) - 1
LOAD_RETRIES = 5  # EINTR/EAGAIN retries of one PROG_LOAD (as bpf() and libbpf's sys_bpf_prog_load)
_STATS_RE = re.compile(
    r"processed (\d+) insns \(limit (\d+)\) max_states_per_insn (\d+) total_states (\d+) peak_states (\d+) "
    r"mark_read (\d+)"
)


@dataclasses.dataclass(frozen=True)
class VerifierStats:
    """The verifier's statistics lines (``processed N insns ...``, ``verification time``)."""

    processed_insns: int = 0
    insn_limit: int = 0
    max_states_per_insn: int = 0
    total_states: int = 0
    peak_states: int = 0
    mark_read: int = 0
    verification_time_usec: int | None = None
    stack_depth: tuple[int, ...] = ()

    @classmethod
    def parse(cls, log: str) -> "VerifierStats | None":
        m = _STATS_RE.search(log)
        if not m:
            return None
        t = re.search(r"verification time (\d+) usec", log)
        s = re.search(r"stack depth ([\d+]+)", log)
        n = [int(g) for g in m.groups()]
        return cls(processed_insns=n[0], insn_limit=n[1], max_states_per_insn=n[2], total_states=n[3],
                   peak_states=n[4], mark_read=n[5], verification_time_usec=int(t.group(1)) if t else None,
                   stack_depth=tuple(int(x) for x in s.group(1).split("+") if x) if s else ())


@dataclasses.dataclass
class TestRunResult:
    """Result of BPF_PROG_TEST_RUN: ``retval``, ``duration_ns`` (mean per repeat), output buffers."""

    retval: int
    duration_ns: int
    data_out: bytes
    ctx_out: bytes


def _lockdown_hint() -> str:
    try:
        with open("/sys/kernel/security/lockdown") as f:
            mode = re.search(r"\[(\w+)\]", f.read())
            if mode and mode.group(1) != "none":
                return f"kernel lockdown is '{mode.group(1)}'"
    except OSError:
        pass
    return ""


def _encode(insns: Any) -> bytes:
    if isinstance(insns, (bytes, bytearray, memoryview)):
        b = bytes(insns)
        if len(b) % 8:
            raise Error(f"instruction bytes must be a multiple of 8, got {len(b)}")
        return b
    from . import asm

    return asm.encode(list(insns))


def _patch_symbols(insns: Any, maps: Mapping[str, Any] | None) -> Any:
    """Resolve ``ld_map_by_name`` placeholders (Instruction.symbol) against ``maps``."""
    if isinstance(insns, (bytes, bytearray, memoryview)):
        return insns
    insns = list(insns)
    out = []
    for ins in insns:
        sym = getattr(ins, "symbol", None)
        if sym and getattr(ins, "is_map_load", False):
            if not maps or sym not in maps:
                raise Error(f"instruction references map {sym!r} which was not given in maps=")
            from .asm import Instruction

            m = maps[sym]
            src = ins.src if ins.src else 1
            n = Instruction(ins.opcode, ins.dst, src, ins.off, (ins.imm & ~0xFFFFFFFF) | int(m.fd))
            out.append(n)
        else:
            out.append(ins)
    return out


class Program(KernelObject):
    """A loaded BPF program (an fd the kernel verified).

    Use as a context manager or call :meth:`close`. ``verifier_log`` holds the
    log when one was requested at load time.
    """

    def __init__(self, fd: FD, type: ProgramType | int, name: str = "", *, spec: ProgramSpec | None = None,
                 insns: bytes | None = None, verifier_log: str = "") -> None:
        self._fd = fd
        try:
            self.type: ProgramType | int = ProgramType(type)
        except ValueError:
            self.type = type
        self.name = name
        self.spec = spec
        self._insns = insns
        self.verifier_log = verifier_log
        self.verifier_stats = VerifierStats.parse(verifier_log) if verifier_log else None
        self._id: int | None = None
        self._attach_target: str = spec.attach_to if spec is not None else ""
        self.object_maps: Any = None  # set by the object loader: the maps of the object this came from

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, type: ProgramType | int, insns: "Sequence[Instruction] | bytes", license: str = "GPL", *,
             name: str = "", expected_attach_type: AttachType | int = 0, attach_btf_id: int = 0,
             attach_btf_obj_fd: int = 0, attach_prog_fd: int = 0, kernel_version: int = 0, flags: int = 0,
             ifindex: int = 0, log_level: int = 0, log_size: int = 0, maps: Mapping[str, Any] | None = None,
             btf: Any = None, func_info: bytes = b"", func_info_rec_size: int = 0, line_info: bytes = b"",
             line_info_rec_size: int = 0, fd_array: Sequence[int] | None = None) -> "Program":
        """Load ``insns`` (Instructions or raw bytes) as a program of ``type`` (BPF_PROG_LOAD).

        ``log_level`` > 0 keeps the verifier log in ``.verifier_log`` (4 = stats
        only). A rejection raises :class:`pybpf.VerifierError` with the full log.
        ``maps`` resolves ``asm.ld_map_by_name`` references. ``name`` may hold
        ``[A-Za-z0-9_.]`` only (else :class:`pybpf.Error` before any syscall);
        longer than 15 characters it is truncated, as libbpf does.
        """
        spec = ProgramSpec(type=type, instructions=insns, license=license, name=name,  # type: ignore[arg-type]
                           expected_attach_type=expected_attach_type, attach_btf_id=attach_btf_id,
                           attach_btf_obj_fd=attach_btf_obj_fd, attach_prog_fd=attach_prog_fd,
                           kernel_version=kernel_version, flags=flags, ifindex=ifindex, btf=btf,
                           func_info=func_info, func_info_rec_size=func_info_rec_size, line_info=line_info,
                           line_info_rec_size=line_info_rec_size)
        return cls.from_spec(spec, log_level=log_level, log_size=log_size, maps=maps, fd_array=fd_array)

    @classmethod
    def from_spec(cls, spec: ProgramSpec, *, log_level: int = 0, log_size: int = 0,
                  maps: Mapping[str, Any] | None = None, fd_array: Sequence[int] | None = None,
                  btf_fd: int = 0) -> "Program":
        """Load a :class:`ProgramSpec`."""
        prog_name = check_obj_name(spec.name, "program")
        code = _encode(_patch_symbols(spec.instructions, maps))
        if not code:
            raise Error("program has no instructions")
        insn_buf = ctypes.create_string_buffer(code, len(code))
        lic = ctypes.create_string_buffer(spec.license.encode())
        attr = ProgLoadAttr(
            prog_type=int(spec.type),
            insn_cnt=len(code) // 8,
            insns=ctypes.addressof(insn_buf),
            license=ctypes.addressof(lic),
            kern_version=spec.kernel_version,
            prog_flags=spec.flags,
            prog_name=prog_name,
            prog_ifindex=spec.ifindex,
            expected_attach_type=int(spec.expected_attach_type),
            attach_btf_id=spec.attach_btf_id,
            attach_prog_fd=spec.attach_prog_fd or spec.attach_btf_obj_fd,
        )
        keep: list[Any] = [insn_buf, lic]
        owned_btf: FD | None = None
        if spec.btf is not None and not btf_fd:
            from .map import btf_fd_for

            btf_fd, owned_btf = btf_fd_for(spec.btf)
        if btf_fd:
            attr.prog_btf_fd = btf_fd
            if spec.func_info:
                fi = ctypes.create_string_buffer(spec.func_info, len(spec.func_info))
                keep.append(fi)
                attr.func_info = ctypes.addressof(fi)
                attr.func_info_rec_size = spec.func_info_rec_size
                attr.func_info_cnt = len(spec.func_info) // spec.func_info_rec_size
            if spec.line_info:
                li = ctypes.create_string_buffer(spec.line_info, len(spec.line_info))
                keep.append(li)
                attr.line_info = ctypes.addressof(li)
                attr.line_info_rec_size = spec.line_info_rec_size
                attr.line_info_cnt = len(spec.line_info) // spec.line_info_rec_size
        if fd_array:
            fa = (ctypes.c_int32 * len(fd_array))(*fd_array)
            keep.append(fa)
            attr.fd_array = ctypes.addressof(fa)
        try:
            fd, log = _load_with_log(attr, log_level, log_size, spec.name or "<anon>", spec)
        finally:
            if owned_btf is not None:
                owned_btf.close()  # the program holds its own reference to the BTF
        return cls(fd, spec.type, spec.name, spec=spec, insns=code, verifier_log=log)

    @classmethod
    def from_fd(cls, fd: FD | int) -> "Program":
        """Wrap an fd (takes ownership of an :class:`FD`; dups a raw int)."""
        owned = fd if isinstance(fd, FD) else FD(os.dup(fd))
        try:
            info = cmds.prog_info(owned.fd)
        except BaseException:
            owned.close()
            raise
        p = cls(owned, info.type, info.name.decode(errors="replace"))
        p._id = int(info.id)
        return p

    _KIND = "prog"

    def __repr__(self) -> str:
        t = self.type.name if isinstance(self.type, ProgramType) else str(self.type)
        state = "closed" if self.closed else f"fd={self._fd.fd}"
        return f"<Program {self.name or '?'} {t} {state}>"

    def info(self) -> "ProgramInfo":
        """The kernel's view of the program (struct bpf_prog_info + fdinfo memlock)."""
        from .introspect import ProgramInfo

        return ProgramInfo.from_fd(self.fd)

    @property
    def tag(self) -> str:
        """The kernel's program tag (hex)."""
        return bytes(cmds.prog_info(self.fd).tag).hex()

    def local_tag(self) -> str:
        """The tag computed locally from the loaded instructions (equals :attr:`tag`)."""
        if self._insns is None:
            raise Error("instructions unknown for a program opened by id/pin/fd")
        from . import asm

        return asm.program_tag(self._insns)

    def xlated(self) -> "list[Instruction]":
        """The kernel's translated instructions (after verifier rewrites) as asm Instructions."""
        from . import asm

        return asm.decode(self.xlated_bytes())

    def xlated_bytes(self) -> bytes:
        info = cmds.prog_info(self.fd)
        n = int(info.xlated_prog_len)
        if n == 0:
            raise Error("kernel withholds xlated instructions (needs CAP_SYS_ADMIN / bpf_jit_harden off)")
        buf = ctypes.create_string_buffer(n)
        from ._sys.info import ProgInfo

        i2 = ProgInfo(xlated_prog_len=n, xlated_prog_insns=ctypes.addressof(buf))
        cmds.obj_info(self.fd, i2)
        return buf.raw[: int(i2.xlated_prog_len)]

    def dump_xlated(self, *, opcodes: bool = False) -> str:
        """The translated program as ``bpftool prog dump xlated`` prints it (calls resolved via kallsyms)."""
        from . import asm

        ksyms = self.jited_ksyms()
        if len(ksyms) > 1:
            # bpf-to-bpf calls print as pc+N#bpf_prog_<tag>_<name>, as bpftool does; the
            # subprograms' symbols are newer than any cached kallsyms snapshot: read afresh.
            resolver = asm.KallsymsResolver(jited_ksyms=ksyms)
        else:
            resolver = _kallsyms()
        return asm.disassemble(self.xlated(), style="xlated", opcodes=opcodes, call_resolver=resolver)

    def jited_ksyms(self) -> list[int]:
        """Kernel addresses of the JITed main program and its subprograms (empty without JIT)."""
        from ._sys.info import ProgInfo

        n = int(cmds.prog_info(self.fd).nr_jited_ksyms)
        if not n:
            return []
        arr = (ctypes.c_uint64 * n)()
        cmds.obj_info(self.fd, ProgInfo(nr_jited_ksyms=n, jited_ksyms=ctypes.addressof(arr)))
        return list(arr)

    def jited(self) -> bytes:
        """The JIT-compiled native code (empty if the JIT is off)."""
        info = cmds.prog_info(self.fd)
        n = int(info.jited_prog_len)
        if n == 0:
            return b""
        buf = ctypes.create_string_buffer(n)
        from ._sys.info import ProgInfo

        i2 = ProgInfo(jited_prog_len=n, jited_prog_insns=ctypes.addressof(buf))
        cmds.obj_info(self.fd, i2)
        return buf.raw[: int(i2.jited_prog_len)]

    def bind_map(self, m: Any) -> None:
        """Tie map ``m``'s lifetime to this program (BPF_PROG_BIND_MAP, 5.10+)."""
        cmds.prog_bind_map(self.fd, int(m.fd) if not isinstance(m, int) else m)

    # ---------------------------------------------------------------- test run
    def test_run(self, data: bytes | None = None, *, ctx: bytes | None = None, repeat: int | None = None,
                 data_out_size: int | None = None, ctx_out_size: int | None = None, flags: int = 0,
                 cpu: int = 0, batch_size: int = 0) -> TestRunResult:
        """Run the program in the kernel on ``data``/``ctx`` (BPF_PROG_TEST_RUN).

        Networking types 4.12+, raw_tp 5.10+, syscall 5.14+. raw_tp and syscall
        programs run once (the kernel refuses ``repeat`` and ctx output for them);
        a syscall program's context, which the kernel writes back in place, is
        returned as ``ctx_out``.
        """
        once = self.type in (ProgramType.RAW_TRACEPOINT, ProgramType.SYSCALL, ProgramType.RAW_TRACEPOINT_WRITABLE,
                             ProgramType.TRACING, ProgramType.STRUCT_OPS)
        if repeat is None:
            repeat = 0 if once else 1
        din = ctypes.create_string_buffer(bytes(data), len(data)) if data else None
        cin = ctypes.create_string_buffer(bytes(ctx), len(ctx)) if ctx else None
        if data_out_size is None:
            data_out_size = (len(data) + 512) if data else 0
        if ctx_out_size is None:
            ctx_out_size = 0 if once else (len(ctx) if ctx else 0)
        while True:
            dout = ctypes.create_string_buffer(data_out_size) if data_out_size else None
            cout = ctypes.create_string_buffer(ctx_out_size) if ctx_out_size else None
            attr = TestRunAttr(
                prog_fd=self.fd,
                data_size_in=len(data) if data else 0,
                data_in=ctypes.addressof(din) if din is not None else 0,
                data_size_out=data_out_size,
                data_out=ctypes.addressof(dout) if dout is not None else 0,
                ctx_size_in=len(ctx) if ctx else 0,
                ctx_in=ctypes.addressof(cin) if cin is not None else 0,
                ctx_size_out=ctx_out_size,
                ctx_out=ctypes.addressof(cout) if cout is not None else 0,
                repeat=repeat,
                flags=flags,
                cpu=cpu,
                batch_size=batch_size,
            )
            ret = bpf_raw(Cmd.PROG_TEST_RUN, ctypes.addressof(attr), ctypes.sizeof(attr))
            if ret == -errno.ENOSPC and dout is not None and data_out_size < (1 << 24):
                data_out_size = max(int(attr.data_size_out), data_out_size * 2)
                continue
            if ret < 0:
                err = -ret
                hint = ""
                if err in (524, errno.EOPNOTSUPP):  # 524: kernel-internal ENOTSUPP
                    raise NotSupportedError(f"BPF_PROG_TEST_RUN for {self.type!r}",
                                            "this program type cannot be test-run on this kernel")
                if err == errno.EINVAL:
                    hint = "check data/ctx sizes for this program type (e.g. packets need >= 14 bytes)"
                raise_for(Cmd.PROG_TEST_RUN, err, hint)
            dlen = min(int(attr.data_size_out), data_out_size)
            clen = min(int(attr.ctx_size_out), ctx_out_size)
            ctx_out = cout.raw[:clen] if cout is not None else b""
            if self.type == ProgramType.SYSCALL and cin is not None:
                ctx_out = cin.raw  # written back into the input buffer by the kernel
            return TestRunResult(
                retval=int(attr.retval),
                duration_ns=int(attr.duration),
                data_out=dout.raw[:dlen] if dout is not None else b"",
                ctx_out=ctx_out,
            )

    # ===================================================================================
    # Tracing attach points (pybpf.links: tracing, perf_event, kprobe, uprobe, usdt, iter).
    # Thin delegates; see those modules for details and minimum kernels.
    # ===================================================================================
    def attach(self) -> Link:
        """Attach as the program's ELF section says (libbpf auto-attach); returns a ``pybpf.links.Link``.

        tracepoint/tp, raw_tp/raw_tracepoint, tp_btf, fentry/fexit/fmod_ret/lsm/freplace, iter,
        kprobe/kretprobe/ksyscall/kprobe.multi, uprobe/uretprobe (``binary:func[+off]``), usdt
        (``binary:provider:name``); network types go to ``pybpf.links.net``. Anything else raises
        an Error naming the attach_* function to call.
        """
        from .links.tracing import auto_attach

        return auto_attach(self)

    def attach_tracepoint(self, category: str, name: str | None = None, *, cookie: int = 0,
                          pid: int = -1) -> PerfEventLink:
        """See :func:`pybpf.links.tracing.attach_tracepoint` (4.7+; cookie 5.15+)."""
        from .links.tracing import attach_tracepoint

        return attach_tracepoint(self, category, name, cookie=cookie, pid=pid)

    def attach_raw_tracepoint(self, name: str, *, cookie: int = 0) -> RawTracepointLink:
        """See :func:`pybpf.links.tracing.attach_raw_tracepoint` (4.17+; cookie 6.10+)."""
        from .links.tracing import attach_raw_tracepoint

        return attach_raw_tracepoint(self, name, cookie=cookie)

    def attach_tp_btf(self, *, cookie: int = 0) -> Link:
        """See :func:`pybpf.links.tracing.attach_tp_btf` (5.5+)."""
        from .links.tracing import attach_tp_btf

        return attach_tp_btf(self, cookie=cookie)

    def attach_trace(self, *, cookie: int = 0, target: Any = None, target_btf_id: int = 0,
                     target_func: str | None = None, attach_type: AttachType | int | None = None) -> Link:
        """fentry/fexit/fmod_ret/lsm/freplace: see :func:`pybpf.links.tracing.attach_tracing` (5.5+)."""
        from .links.tracing import attach_tracing

        return attach_tracing(self, cookie=cookie, target=target, target_btf_id=target_btf_id,
                              target_func=target_func, attach_type=attach_type)

    def attach_kprobe(self, symbol: str | None, offset: int = 0, *, retprobe: bool = False, cookie: int = 0,
                      maxactive: int = 0, addr: int = 0, force_tracefs: bool = False) -> PerfEventLink:
        """See :func:`pybpf.links.kprobe.attach_kprobe` (4.1+; kprobe PMU 4.17+, cookie 5.15+)."""
        from .links.kprobe import attach_kprobe

        return attach_kprobe(self, symbol, offset, retprobe=retprobe, cookie=cookie, maxactive=maxactive,
                             addr=addr, force_tracefs=force_tracefs)

    def attach_uprobe(self, binary: str, symbol: str | None = None, *, retprobe: bool = False,
                      pid: int | None = None, offset: int = 0, ref_ctr_offset: int = 0, cookie: int = 0,
                      force_tracefs: bool = False) -> PerfEventLink:
        """See :func:`pybpf.links.uprobe.attach_uprobe` (4.1+; uprobe PMU 4.17+, cookie 5.15+)."""
        from .links.uprobe import attach_uprobe

        return attach_uprobe(self, binary, symbol, retprobe=retprobe, pid=pid, offset=offset,
                             ref_ctr_offset=ref_ctr_offset, cookie=cookie, force_tracefs=force_tracefs)

    def attach_usdt(self, binary: str, provider: str, name: str, *, pid: int | None = None, cookie: int = 0,
                    specs_map: Any = None, ip_map: Any = None, arch: str | None = None) -> UsdtLink:
        """See :func:`pybpf.links.usdt.attach_usdt` (5.15+).

        For a program loaded from an object that includes ``<bpf/usdt.bpf.h>``, the
        object's ``__bpf_usdt_specs`` / ``__bpf_usdt_ip_to_spec_id`` maps are filled
        automatically (as libbpf does), so ``bpf_usdt_arg()`` works in the program.
        """
        from .links.usdt import attach_usdt

        maps = self.object_maps
        if maps is not None:
            if specs_map is None and "__bpf_usdt_specs" in maps:
                specs_map = maps["__bpf_usdt_specs"]
            if ip_map is None and "__bpf_usdt_ip_to_spec_id" in maps:
                ip_map = maps["__bpf_usdt_ip_to_spec_id"]
        return attach_usdt(self, binary, provider, name, pid=pid, cookie=cookie, specs_map=specs_map,
                           ip_map=ip_map, arch=arch)

    def attach_perf_event(self, type: int, config: int, *, sample_period: int = 0, sample_freq: int = 0,
                          cpu: int | None = None, pid: int = -1, cookie: int = 0,
                          inherit: bool = False) -> PerfEventLink | MultiLink:
        """See :func:`pybpf.links.perf_event.attach_perf_event` (4.9+; cookie 5.15+)."""
        from .links.perf_event import attach_perf_event

        return attach_perf_event(self, type, config, sample_period=sample_period, sample_freq=sample_freq,
                                 cpu=cpu, pid=pid, cookie=cookie, inherit=inherit)

    def attach_iter(self, map: Any = None, *, cgroup_fd: int = 0, cgroup_id: int = 0,
                    order: CgroupIterOrder | int = 0, tid: int = 0, pid: int = 0,
                    pid_fd: int = 0) -> IterLink:
        """See :func:`pybpf.links.iter.attach_iter` (5.8+; map 5.9+, cgroup/task 6.1+)."""
        from .links.iter import attach_iter

        return attach_iter(self, map, cgroup_fd=cgroup_fd, cgroup_id=cgroup_id, order=order, tid=tid, pid=pid,
                           pid_fd=pid_fd)
    # ============================================================ end tracing attach points

    # ===================================================================================
    # Network attach points (pybpf.links.net): thin delegates; see that module for the
    # options, return types and minimum kernels.
    # ===================================================================================
    def attach_xdp(self, dev: Dev, mode: str | None = None, *, flags: int | None = None,
                   replace: Any = None, via: str | None = None, netns: NetnsRef = None) -> Link:
        """See :func:`pybpf.links.net.attach_xdp` (4.8+; bpf_link 5.9+)."""
        from .links.net import attach_xdp

        return attach_xdp(self, dev, mode, flags=flags, replace=replace, via=via, netns=netns)

    def attach_tcx(self, dev: Dev, direction: str = "ingress", *, before: Any = None, after: Any = None,
                   expected_revision: int = 0, netns: NetnsRef = None) -> TcxLink:
        """See :func:`pybpf.links.net.attach_tcx` (6.6+)."""
        from .links.net import attach_tcx

        return attach_tcx(self, dev, direction, before=before, after=after, expected_revision=expected_revision,
                          netns=netns)

    def attach_tc(self, dev: Dev, direction: str = "ingress", *, priority: int = 1, handle: int = 1,
                  direct_action: bool = True, replace: bool = False, netns: NetnsRef = None) -> TcAttachment:
        """See :func:`pybpf.links.net.attach_tc` (4.5+, clsact)."""
        from .links.net import attach_tc

        return attach_tc(self, dev, direction, priority=priority, handle=handle, direct_action=direct_action,
                         replace=replace, netns=netns)

    def attach_cgroup(self, cgroup: CgroupRef, attach_type: AttachType | int | str | None = None, *,
                      flags: int = 2, via: str | None = None, replace: Any = None) -> Link:
        """See :func:`pybpf.links.net.attach_cgroup` (4.10+; bpf_link 5.7+; ``flags`` default
        BPF_F_ALLOW_MULTI)."""
        from .links.net import attach_cgroup

        return attach_cgroup(self, cgroup, attach_type, flags=flags, via=via, replace=replace)

    def attach_socket(self, sock: Any) -> SocketFilter:
        """See :func:`pybpf.links.net.attach_socket` (3.19+)."""
        from .links.net import attach_socket

        return attach_socket(self, sock)

    def attach_sk_lookup(self, netns: NetnsRef = None) -> NetnsLink:
        """See :func:`pybpf.links.net.attach_sk_lookup` (5.9+)."""
        from .links.net import attach_sk_lookup

        return attach_sk_lookup(self, netns)

    def attach_flow_dissector(self, netns: NetnsRef = None, *, via: str | None = None) -> Link:
        """See :func:`pybpf.links.net.attach_flow_dissector` (4.20+; bpf_link 5.7+)."""
        from .links.net import attach_flow_dissector

        return attach_flow_dissector(self, netns, via=via)

    def attach_sk_skb(self, sockmap: Any, kind: str | None = None, *, via: str | None = None) -> Link:
        """See :func:`pybpf.links.net.attach_sk_skb` (4.14+; bpf_link 6.10+)."""
        from .links.net import attach_sk_skb

        return attach_sk_skb(self, sockmap, kind, via=via)

    def attach_sk_msg(self, sockmap: Any, *, via: str | None = None) -> Link:
        """See :func:`pybpf.links.net.attach_sk_msg` (4.17+; bpf_link 6.10+)."""
        from .links.net import attach_sk_msg

        return attach_sk_msg(self, sockmap, via=via)

    def attach_netfilter(self, pf: int | str, hooknum: int | str, priority: int, flags: int = 0, *,
                         netns: NetnsRef = None) -> NetfilterLink:
        """See :func:`pybpf.links.net.attach_netfilter` (6.4+)."""
        from .links.net import attach_netfilter

        return attach_netfilter(self, pf, hooknum, priority, flags, netns=netns)
    # ============================================================ end network attach points


_KALLSYMS: Any = None


def _kallsyms() -> Any:
    """A process-wide kallsyms resolver for xlated call targets (read once, lazily)."""
    global _KALLSYMS
    if _KALLSYMS is None:
        from .asm import KallsymsResolver

        _KALLSYMS = KallsymsResolver()
    return _KALLSYMS


def _load_with_log(attr: ProgLoadAttr, log_level: int, log_size: int, name: str,
                   spec: ProgramSpec) -> tuple[FD, str]:
    """PROG_LOAD; on failure reload with a verifier log (growing it on ENOSPC)."""
    size = ctypes.sizeof(attr)
    addr = ctypes.addressof(attr)
    logbuf = None
    if log_level:
        log_size = log_size or (1 << 20)
        logbuf = ctypes.create_string_buffer(log_size)
        attr.log_level, attr.log_size, attr.log_buf = log_level, log_size, ctypes.addressof(logbuf)
    bumped = False
    interrupted = 0
    while True:
        ret = bpf_raw(Cmd.PROG_LOAD, addr, size)
        if ret >= 0:
            return FD(ret), (logbuf.value.decode(errors="replace") if logbuf is not None else "")
        err = -ret
        if err in (errno.EINTR, errno.EAGAIN):
            # The verifier returns EAGAIN when a signal is pending; a steady stream of
            # signals (an interval timer shorter than the verification) would loop forever.
            interrupted += 1
            if interrupted <= LOAD_RETRIES:
                continue
            raise_for(Cmd.PROG_LOAD, err, f"program {name!r}: interrupted by signals {LOAD_RETRIES + 1} times in a "
                      "row (the verifier stops when a signal is pending); load it with fewer signals arriving")
        interrupted = 0
        if err == errno.EPERM and not bumped:
            bumped = True
            if bump_memlock_rlimit_once():
                continue
        if err == errno.ENOSPC and logbuf is not None and attr.log_size < _LOG_MAX:
            # Log too small: grow to what the kernel says it needs (6.4+) or double.
            want = max(int(attr.log_true_size) + 1, int(attr.log_size) * 4)
            log_size = min(want, _LOG_MAX)
            logbuf = ctypes.create_string_buffer(log_size)
            attr.log_size, attr.log_buf = log_size, ctypes.addressof(logbuf)
            continue
        if logbuf is None and err not in (errno.EPERM, errno.E2BIG):
            # Retry with a log so the error can say why (as libbpf does).
            log_level, log_size = 1, max(log_size, 1 << 20)
            logbuf = ctypes.create_string_buffer(log_size)
            attr.log_level, attr.log_size, attr.log_buf = 1, log_size, ctypes.addressof(logbuf)
            continue
        log = logbuf.value.decode(errors="replace") if logbuf is not None else ""
        _raise_load_error(err, log, name, spec)


def _raise_load_error(err: int, log: str, name: str, spec: ProgramSpec) -> None:
    if err == errno.EPERM:
        if os.geteuid() == 0:
            why = _lockdown_hint()
            t = ProgramType(spec.type).name if spec.type in ProgramType._value2member_map_ else str(spec.type)
            at = int(spec.expected_attach_type or 0)
            if spec.type in (ProgramType.TRACING, ProgramType.LSM, ProgramType.EXT) and \
                    at in AttachType._value2member_map_:
                # Name the attach flavour (fentry/fexit/fmod_ret/lsm...) and why, as the probe words it.
                t = AttachType(at).name
                if spec.type == ProgramType.EXT:
                    t = "EXT (freplace)"
                if t in ("TRACE_FENTRY", "TRACE_FEXIT", "MODIFY_RETURN", "LSM_MAC", "LSM_CGROUP"):
                    why = "BPF trampolines are unavailable on this kernel" + (f", {why}" if why else "")
            raise NotSupportedError(
                f"loading {t} programs",
                "the kernel refused it even for root (EPERM)" + (f"; {why}" if why else "")
                + (": " + log.strip().splitlines()[-1] if log.strip() else ""),
            )
        raise_for(Cmd.PROG_LOAD, err)
    if log.strip():
        raise VerifierError(name, err, log)
    if err == errno.EINVAL:
        from . import features

        try:
            pt = ProgramType(spec.type)
        except ValueError:
            raise NotSupportedError(f"program type {int(spec.type)}", "unknown to this kernel") from None
        if not features.has_program_type(pt):
            raise NotSupportedError(f"program type {pt.name}",
                                    f"needs Linux {features.PROG_TYPE_MIN_KERNEL.get(pt, '?')}+ (probe failed)")
    raise VerifierError(name, err, log)


def load_many(specs: Iterable[ProgramSpec]) -> list[Program]:
    """Load several specs; on failure close what was loaded and re-raise."""
    out: list[Program] = []
    try:
        for s in specs:
            out.append(Program.from_spec(s))
    except BaseException:
        for p in out:
            p.close()
        raise
    return out
