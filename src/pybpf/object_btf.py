"""Kernel-side BTF work for the object loader.

* :func:`btf_features` — libbpf's FEAT_BTF_* probes (load a tiny BTF blob per kind);
* :func:`load_object_btf` — sanitize the object's BTF for the running kernel
  (:func:`pybpf.elf.btffix.sanitize`) and BPF_BTF_LOAD it;
* :class:`KernelBTFs` — vmlinux and module BTF (parsed, plus fds for module
  BTF objects) to resolve attach targets, ksyms and kfuncs.
"""

from __future__ import annotations

import functools
import logging
from typing import Callable

from ._sys import cmds
from ._sys.syscall import FD
from .btf.spec import BTF
from .btf.types import (
    Datasec, DeclTag, Enum64, EnumValue, Float, Func, FuncProto, Int, Kind, Linkage, Param, Ptr, TypeTag, Var,
    VarSecinfo,
)
from .btf.writer import Builder
from .elf.btffix import BTFFeatures, sanitize
from .errors import BPFError, NotSupportedError

__all__ = ["btf_features", "load_object_btf", "KernelBTFs", "attach_btf_name"]

log = logging.getLogger("pybpf.loader")


def _probe(*types: object) -> bool:
    b = Builder()
    for t in types:
        b.add(t)  # type: ignore[arg-type]
    try:
        fd, _ = cmds.btf_load(b.to_bytes())
    except BPFError:
        return False
    fd.close()
    return True


@functools.lru_cache(maxsize=1)
def btf_features() -> BTFFeatures:
    """Which BTF kinds this kernel accepts (probed once per process)."""
    i = Int("int", 4, signed=True)
    proto = FuncProto(i, [Param("a", i)])
    var = Var("x", i, Linkage.GLOBAL)
    return BTFFeatures(
        func=_probe(i, Func("f", proto, Linkage.STATIC)),
        global_func=_probe(i, Func("f", proto, Linkage.GLOBAL)),
        datasec=_probe(Datasec(".data", 4, [VarSecinfo(var, 0, 4)])),
        float=_probe(Float("float", 4)),
        decl_tag=_probe(DeclTag("tag", var, -1)),
        type_tag=_probe(Ptr(TypeTag("tag", i))),
        enum64=_probe(Enum64("e", 8, [EnumValue("v", 1 << 40)])),
    )


def load_object_btf(btf: BTF, log_fn: Callable[[str], None]) -> FD | None:
    """Sanitize and load ``btf``; None (with a warning) if the kernel rejects it, as libbpf
    treats program BTF as optional."""
    feats = btf_features()
    kbtf = sanitize(btf, feats)
    if kbtf is not btf:
        log_fn(f"btf: sanitized for this kernel ({feats})")
    try:
        fd, _ = cmds.btf_load(kbtf.data)
    except BPFError as e:
        log_fn(f"btf: kernel rejected the object's BTF ({e}); continuing without it")
        log.warning("kernel rejected the object's BTF (%s); loading without BTF", e)
        return None
    log_fn(f"btf: loaded {len(kbtf)} types, fd {fd.fd}")
    return fd


def attach_btf_name(attach_type: int, name: str) -> tuple[str, Kind]:
    """libbpf's ``btf_get_kernel_prefix_kind()``: the BTF name and kind of an attach target."""
    from ._sys.consts import AttachType as A

    if attach_type == A.TRACE_RAW_TP:
        return "btf_trace_" + name, Kind.TYPEDEF
    if attach_type in (A.LSM_MAC, A.LSM_CGROUP):
        return "bpf_lsm_" + name, Kind.FUNC
    if attach_type == A.TRACE_ITER:
        return "bpf_iter_" + name, Kind.FUNC
    return name, Kind.FUNC


class KernelBTFs:
    """vmlinux BTF and (lazily) module BTFs, with fds for module BTF objects."""

    def __init__(self) -> None:
        self._vmlinux: BTF | None = None
        self._modules: list[tuple[str, BTF, FD]] | None = None

    @property
    def vmlinux(self) -> BTF:
        if self._vmlinux is None:
            self._vmlinux = BTF.load_vmlinux()
        return self._vmlinux

    def modules(self) -> list[tuple[str, BTF, FD]]:
        """(name, split BTF, fd) of every loaded module with BTF."""
        if self._modules is None:
            mods: list[tuple[str, BTF, FD]] = []
            try:
                ids = cmds.iter_ids("btf")
            except BPFError:
                ids = []
            try:
                for bid in ids:
                    try:
                        fd = cmds.fd_by_id("btf", bid)
                    except BPFError:
                        continue
                    try:
                        mod = self._module_btf(fd)
                    except BaseException:
                        fd.close()
                        raise
                    if mod is None:
                        fd.close()
                        continue
                    mods.append((mod[0], mod[1], fd))
            except BaseException:
                for _, _, mfd in mods:  # one module failed: the fds collected so far go too
                    mfd.close()
                raise
            self._modules = mods
        return self._modules

    def _module_btf(self, fd: FD) -> tuple[str, BTF] | None:
        """(module name, split BTF) of the kernel BTF object ``fd``; None for vmlinux or a
        BTF object that is not the kernel's (a program's)."""
        info, name = cmds.btf_info(fd.fd)
        if not info.kernel_btf or name == "vmlinux" or not name:
            return None
        return name, BTF.from_bytes(cmds.btf_data(fd.fd), self.vmlinux)

    def targets(self) -> list[BTF]:
        """CO-RE target BTFs: vmlinux first, then modules."""
        return [self.vmlinux] + [b for _, b, _ in self.modules()]

    def find(self, name: str, kind: Kind) -> tuple[int, BTF, FD | None, str]:
        """(type id, BTF, module fd or None, module name) of the first ``kind`` called ``name``."""
        found = self.vmlinux.find_all(name, kind)
        if found:
            return int(found[0].id or 0), self.vmlinux, None, "vmlinux"
        for mname, btf, fd in self.modules():
            own = [t for t in btf.find_all(name, kind) if (t.id or 0) >= btf.first_id]
            if own:
                return int(own[0].id or 0), btf, fd, mname
        raise NotSupportedError(f"{kind.name.lower()} {name!r}", "not found in kernel or module BTF")

    def close(self) -> None:
        for _, _, fd in self._modules or []:
            fd.close()
        self._modules = None
