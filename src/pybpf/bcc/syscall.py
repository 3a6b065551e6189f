"""``bcc.syscall``: system call numbers and names of this machine's architecture.

``syscalls`` maps numbers to names (bytes, as BCC has them) and
:func:`syscall_name` looks one up. The table comes from the Linux UAPI
``asm/unistd_64.h`` that the ziglang wheel ships (a runtime dependency of
pybpf), so it needs neither kernel headers nor ``ausyscall``.
"""

from __future__ import annotations

import os
import re

__all__ = ["syscalls", "syscall_name", "syscall_table"]

_DEFINE = re.compile(rb"^#define\s+__NR(?:3264)?_(\w+)\s+(\w+)", re.M)


def _unistd_paths(machine: str) -> list[str]:
    from ..compile.toolchain import _ZIG_UAPI, target_arch, zig_path

    zig = zig_path()
    if not zig:
        return []
    base = os.path.join(os.path.dirname(zig), "lib", "libc", "include")
    arch_dir = os.path.join(base, f"{_ZIG_UAPI.get(target_arch(machine), machine)}-linux-any", "asm")
    return [os.path.join(arch_dir, n) for n in ("unistd_64.h", "unistd.h")] + [
        os.path.join(base, "any-linux-any", "asm-generic", "unistd.h")]


def parse_unistd(text: bytes) -> dict[int, bytes]:
    """``{number: name}`` from ``#define __NR_name number`` lines (aliases to other
    ``__NR*`` macros resolved, ``__NR_syscalls``/``__NR_arch_specific_syscall`` skipped)."""
    raw: dict[bytes, bytes] = {}
    for name, value in _DEFINE.findall(text):
        raw.setdefault(name, value)
    out: dict[int, bytes] = {}
    for name, value in raw.items():
        if name in (b"syscalls", b"arch_specific_syscall"):
            continue
        for _ in range(4):  # __NR_fcntl -> __NR3264_fcntl -> 25
            m = re.fullmatch(rb"__NR(?:3264)?_(\w+)", value)
            if not m:
                break
            value = raw.get(m.group(1), b"")
        try:
            num = int(value, 0)
        except ValueError:
            continue
        out.setdefault(num, name)
    return out


def syscall_table(machine: "str | None" = None) -> dict[int, bytes]:
    """System call names by number for ``machine`` (default: this host); empty if unknown."""
    for path in _unistd_paths(machine or os.uname().machine):
        try:
            with open(path, "rb") as f:
                table = parse_unistd(f.read())
        except OSError:
            continue
        if len(table) > 100:
            return table
    return {}


syscalls: dict[int, bytes] = syscall_table()


def syscall_name(syscall_num: int) -> bytes:
    """The name of system call ``syscall_num`` (``b"[unknown: N]"`` if it has none)."""
    return syscalls.get(syscall_num, b"[unknown: %d]" % syscall_num)
