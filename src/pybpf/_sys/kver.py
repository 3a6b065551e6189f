"""The running kernel's version, read the way libbpf reads it.

libbpf's ``get_kernel_version()`` first reads ``/proc/version_signature``
(Ubuntu: ``"Ubuntu 5.15.0-91.101-generic 5.15.131"``, whose third field is the
upstream version the kernel is based on) and otherwise parses ``uname -r``.
Everything in pybpf that needs the kernel version (``LINUX_VERSION_CODE`` for
``kern_version`` / ``LINUX_KERNEL_VERSION`` externs, the RLIMIT_MEMLOCK
decision, the program-tag digest) goes through :func:`kernel_version`.

Only ``os`` is imported: :mod:`pybpf._sys.syscall` uses this module and is on
the start-up path of every command.
"""

from __future__ import annotations

import os

__all__ = ["parse_release", "kernel_version", "version_code", "linux_version_code", "LINUX_VERSION_CODE"]

VERSION_SIGNATURE = "/proc/version_signature"

_cached: "tuple[int, int, int] | None" = None


def parse_release(release: str) -> "tuple[int, int, int] | None":
    """``"6.8.0-45-generic"`` → (6, 8, 0); ``"6.18-rc1"`` → (6, 18, 0); None if not ``N.N...``.

    Each of the first three dot-separated pieces contributes its leading
    digits; a missing patch level counts as 0.
    """
    nums: list[int] = []
    for piece in release.strip().split(".")[:3]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        nums.append(int(digits))
        if len(digits) < len(piece):
            break  # "18-rc1": the version ends inside this piece
    if len(nums) < 2:
        return None
    return (nums[0], nums[1], nums[2] if len(nums) > 2 else 0)


def _signature_version() -> "tuple[int, int, int] | None":
    try:
        with open(VERSION_SIGNATURE) as f:
            parts = f.read().split()
    except OSError:
        return None
    return parse_release(parts[2]) if len(parts) >= 3 else None


def kernel_version() -> "tuple[int, int, int]":
    """(major, minor, patch) of the running kernel: ``/proc/version_signature`` first, then
    ``uname -r``; (0, 0, 0) when neither parses. Read once per process."""
    global _cached
    if _cached is None:
        _cached = _signature_version() or parse_release(os.uname().release) or (0, 0, 0)
    return _cached


def version_code(major: int, minor: int, patch: int = 0) -> int:
    """``KERNEL_VERSION(major, minor, patch)`` as the kernel headers define it (patch capped at 255)."""
    return (major << 16) + (minor << 8) + min(patch, 255)


def linux_version_code() -> int:
    """``LINUX_VERSION_CODE`` of the running kernel (0 if unknown)."""
    v = kernel_version()
    return version_code(*v) if v != (0, 0, 0) else 0


def __getattr__(name: str) -> int:
    # LINUX_VERSION_CODE is computed on first use, not at import.
    if name == "LINUX_VERSION_CODE":
        return linux_version_code()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
