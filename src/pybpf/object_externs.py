"""Resolving an object's externs at load time (libbpf's ``bpf_object__resolve_externs``).

* ``__kconfig`` externs: ``CONFIG_*`` from ``/boot/config-$(uname -r)`` or
  ``/proc/config.gz`` (or a caller-supplied text), plus the virtual
  ``LINUX_KERNEL_VERSION``, ``LINUX_HAS_BPF_COOKIE``,
  ``LINUX_HAS_SYSCALL_WRAPPER``; written into the ``.kconfig`` map buffer.
* ``__ksym`` externs: typed variables and kfuncs by BTF id (vmlinux, then
  modules), untyped symbols by address from ``/proc/kallsyms``.

Unresolved ``__weak`` externs default to zero; unresolved strong ones raise.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from typing import Callable, Iterable

from .btf.types import Kind
from .elf.externs import ExternKind, ExternSpec, KcfgType
from .errors import Error, NotSupportedError
from .object_btf import KernelBTFs

__all__ = ["KsymValue", "resolve_kconfig", "resolve_ksyms", "kernel_version_code", "read_kconfig",
           "parse_kconfig_value"]

TRI_NO, TRI_YES, TRI_MODULE = 0, 1, 2


class ExternError(Error):
    """An extern could not be resolved."""


def kernel_version_code(release: str | None = None) -> int:
    """``LINUX_VERSION_CODE`` of the running kernel (Ubuntu's version_signature first, as libbpf),
    or of ``release`` (a ``uname -r`` string); 0 if it does not parse."""
    from ._sys.kver import linux_version_code, parse_release, version_code

    if release is None:
        return linux_version_code()
    v = parse_release(release)
    return version_code(*v) if v is not None else 0


def read_kconfig() -> str:
    """The running kernel's config text (``/boot/config-<release>`` or ``/proc/config.gz``)."""
    path = f"/boot/config-{os.uname().release}"
    for p in (path, "/proc/config.gz"):
        try:
            with open(p, "rb") as f:
                raw = f.read()
        except OSError:
            continue
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8", "replace")
    raise NotSupportedError("kernel config", "neither /boot/config-$(uname -r) nor /proc/config.gz is readable")


def _parse_u64(v: str) -> int:
    s = v.strip()
    neg = s.startswith("-")
    if neg or s.startswith("+"):
        s = s[1:]
    if s[:2].lower() == "0x":
        n = int(s[2:], 16)
    elif len(s) > 1 and s.startswith("0"):
        n = int(s[1:], 8)
    else:
        n = int(s, 10)
    return (-n) & 0xFFFFFFFFFFFFFFFF if neg else n


def _in_range(e: ExternSpec, v: int) -> bool:
    bits = e.size * 8
    if e.size == 8:
        return True
    if e.signed:
        return ((v + (1 << (bits - 1))) & 0xFFFFFFFFFFFFFFFF) < (1 << bits)
    return v >> bits == 0


def _set_num(e: ExternSpec, buf: bytearray, v: int) -> None:
    if e.kcfg_type not in (KcfgType.INT, KcfgType.CHAR, KcfgType.BOOL):
        raise ExternError(f"extern (kcfg) {e.name!r}: value {v} implies integer, char or boolean type")
    if e.kcfg_type == KcfgType.BOOL and v > 1:
        raise ExternError(f"extern (kcfg) {e.name!r}: value {v} isn't boolean compatible")
    if not _in_range(e, v):
        raise ExternError(f"extern (kcfg) {e.name!r}: value {v} doesn't fit in {e.size} bytes")
    buf[e.offset:e.offset + e.size] = (v & ((1 << (8 * e.size)) - 1)).to_bytes(e.size, "little")


def parse_kconfig_value(e: ExternSpec, buf: bytearray, value: str) -> None:
    """Store a Kconfig value (``y``/``n``/``m``, ``"string"``, integer) for extern ``e``."""
    c = value[:1]
    if c in ("y", "n", "m"):
        if e.kcfg_type == KcfgType.BOOL:
            if c == "m":
                raise ExternError(f"extern (kcfg) {e.name!r}: value 'm' implies tristate or char type")
            buf[e.offset] = 1 if c == "y" else 0
        elif e.kcfg_type == KcfgType.TRISTATE:
            v = TRI_YES if c == "y" else TRI_MODULE if c == "m" else TRI_NO
            buf[e.offset:e.offset + e.size] = v.to_bytes(e.size, "little")
        elif e.kcfg_type == KcfgType.CHAR:
            buf[e.offset] = ord(c)
        else:
            raise ExternError(f"extern (kcfg) {e.name!r}: value {c!r} implies bool, tristate or char type")
    elif c == '"':
        if e.kcfg_type != KcfgType.CHAR_ARR:
            raise ExternError(f"extern (kcfg) {e.name!r}: value {value} implies char array type")
        if not value.endswith('"') or len(value) < 2:
            raise ExternError(f"extern (kcfg) {e.name!r}: invalid string config {value}")
        s = value[1:-1].encode()[:e.size - 1]
        buf[e.offset:e.offset + e.size] = s + bytes(e.size - len(s))
    else:
        try:
            n = _parse_u64(value)
        except ValueError:
            raise ExternError(f"extern (kcfg) {e.name!r}: value {value!r} isn't a valid integer") from None
        if e.kcfg_type not in (KcfgType.INT, KcfgType.CHAR):
            raise ExternError(f"extern (kcfg) {e.name!r}: value {value!r} implies integer type")
        _set_num(e, buf, n)


def _kconfig_lines(text: str) -> Iterable[tuple[str, str]]:
    for line in text.splitlines():
        if not line.startswith("CONFIG_"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not value:
            raise ExternError(f"failed to parse Kconfig line {line!r}")
        yield name, value


def resolve_kconfig(externs: Iterable[ExternSpec], buf: bytearray, extra: str | None,
                    log_fn: Callable[[str], None]) -> None:
    """Fill the ``.kconfig`` buffer; raises for unresolved strong externs."""
    exts = [e for e in externs if e.kind == ExternKind.KCONFIG]
    if not exts:
        return
    done: set[str] = set()
    need_config = False
    for e in exts:
        if e.name.startswith("CONFIG_"):
            need_config = True
            continue
        if e.name == "LINUX_KERNEL_VERSION":
            v = kernel_version_code()
            if not v:
                raise ExternError("extern (kcfg) 'LINUX_KERNEL_VERSION': failed to get kernel version")
        elif e.name == "LINUX_HAS_BPF_COOKIE":
            from . import features
            from ._sys.consts import ProgramType

            v = int(features.has_helper(ProgramType.KPROBE, 174))  # bpf_get_attach_cookie
        elif e.name == "LINUX_HAS_SYSCALL_WRAPPER":
            v = int(_has_syscall_wrapper())
        elif not e.name.startswith("LINUX_") or not e.weak:
            raise ExternError(f"extern (kcfg) {e.name!r}: unrecognized virtual extern")
        else:
            continue
        _set_num(e, buf, v)
        done.add(e.name)
        log_fn(f"extern (kcfg) {e.name!r}: set to {v:#x}")
    if need_config:
        by_name = {e.name: e for e in exts}
        texts = ([extra] if extra else [])
        for text_src in (texts + [None]):
            if all(n in done for n in by_name if n.startswith("CONFIG_")):
                break
            if text_src is None:
                try:
                    text = read_kconfig()
                except NotSupportedError:
                    if any(not by_name[n].weak for n in by_name if n not in done and n.startswith("CONFIG_")):
                        raise
                    break
            else:
                text = text_src
            for name, value in _kconfig_lines(text):
                ke = by_name.get(name)
                if ke is None or name in done:
                    continue
                parse_kconfig_value(ke, buf, value)
                done.add(name)
                log_fn(f"extern (kcfg) {name!r}: set to {value}")
    for e in exts:
        if e.name not in done:
            if not e.weak:
                raise ExternError(f"extern {e.name!r} (strong): not resolved")
            log_fn(f"extern {e.name!r} (weak): not resolved, defaulting to zero")


def _has_syscall_wrapper() -> bool:
    prefix = {"x86_64": "__x64_", "aarch64": "__arm64_", "s390x": "__s390x_", "riscv64": "__riscv_"}.get(
        os.uname().machine, "")
    if not prefix:
        return False
    return _kallsyms_lookup({f"{prefix}sys_bpf"}).get(f"{prefix}sys_bpf") is not None


def _kallsyms_lookup(names: set[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] in names:
                    addr = int(parts[0], 16)
                    if parts[2] in out and out[parts[2]] != addr:
                        raise ExternError(f"extern (ksym) {parts[2]!r}: resolution is ambiguous")
                    out[parts[2]] = addr
    except OSError:
        pass
    return out


@dataclasses.dataclass
class KsymValue:
    """How to patch references to a ksym: an address (untyped), or a BTF id (+ the module's
    BTF fd for variables, + its fd_array index for kfuncs). ``resolved`` False: weak, zeroed."""

    resolved: bool
    addr: int = 0
    btf_id: int = 0
    btf_obj_fd: int = 0
    fd_array_idx: int = 0
    typed: bool = False


def resolve_ksyms(externs: Iterable[ExternSpec], kbtf: KernelBTFs, fd_array: list[int],
                  log_fn: Callable[[str], None]) -> dict[str, KsymValue]:
    """Resolve every ``__ksym`` extern; module BTF fds are appended to ``fd_array`` for kfuncs."""
    out: dict[str, KsymValue] = {}
    exts = [e for e in externs if e.kind == ExternKind.KSYM]
    untyped = {e.name for e in exts if not e.type_id and not e.is_func}
    addrs = _kallsyms_lookup(untyped) if untyped else {}
    for e in exts:
        if e.name in untyped:
            if e.name in addrs:
                out[e.name] = KsymValue(True, addr=addrs[e.name])
                log_fn(f"extern (ksym) {e.name!r}: set to {addrs[e.name]:#x}")
            else:
                out[e.name] = KsymValue(False)
            continue
        kind = Kind.FUNC if e.is_func else Kind.VAR
        try:
            tid, _btf, mod_fd, mname = kbtf.find(e.name, kind)
        except NotSupportedError:
            out[e.name] = KsymValue(False, typed=True)
            continue
        v = KsymValue(True, btf_id=tid, typed=True)
        if mod_fd is not None:
            if e.is_func:
                if not fd_array:
                    fd_array.append(0)  # index 0 means vmlinux
                if mod_fd.fd not in fd_array[1:]:
                    fd_array.append(mod_fd.fd)
                v.fd_array_idx = fd_array.index(mod_fd.fd, 1)
            else:
                v.btf_obj_fd = mod_fd.fd
        out[e.name] = v
        log_fn(f"extern ({'func' if e.is_func else 'var'} ksym) {e.name!r}: resolved to [{tid}] in {mname}")
    for e in exts:
        if not out[e.name].resolved:
            if not e.weak:
                raise ExternError(f"extern {e.name!r} (strong): not resolved")
            log_fn(f"extern {e.name!r} (weak): not resolved, defaulting to zero")
    return out
