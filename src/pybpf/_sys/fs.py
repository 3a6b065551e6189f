"""Find or mount the BPF filesystem and tracefs, as bpftool does.

Users never have to mount anything: pinning under /sys/fs/bpf mounts bpffs
there if needed, and tracing code finds tracefs wherever it is (or mounts it at
/sys/kernel/tracing).
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading

from ..errors import BPFError, Error

BPF_FS_MAGIC = 0xCAFE4A11
TRACEFS_MAGIC = 0x74726163
DEBUGFS_MAGIC = 0x64626720
DEFAULT_BPFFS = "/sys/fs/bpf"
DEFAULT_TRACEFS = "/sys/kernel/tracing"

_libc = ctypes.CDLL(None, use_errno=True)
_lock = threading.Lock()


class _Statfs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 112)]


def fs_magic(path: str) -> int | None:
    """statfs(2) f_type of ``path``, or None if it does not exist."""
    buf = _Statfs()
    if _libc.statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
        return None
    return int(buf.f_type) & 0xFFFFFFFF


def mount(source: str, target: str, fstype: str, data: str = "") -> None:
    """mount(2); raises BPFError naming the filesystem on failure."""
    os.makedirs(target, exist_ok=True)
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(0),
                   data.encode() if data else None) != 0:
        err = ctypes.get_errno()
        hint = f"mounting {fstype} at {target} needs CAP_SYS_ADMIN; run as root or mount it yourself"
        raise BPFError(err, "mount", hint if err in (errno.EPERM, errno.EACCES) else "")


def _mounts() -> list[tuple[str, str]]:
    out = []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    out.append((parts[1].replace("\\040", " "), parts[2]))
    except OSError:
        pass
    return out


def find_bpffs() -> str | None:
    """A mounted bpffs (preferring /sys/fs/bpf), or None."""
    if fs_magic(DEFAULT_BPFFS) == BPF_FS_MAGIC:
        return DEFAULT_BPFFS
    for mnt, typ in _mounts():
        if typ == "bpf":
            return mnt
    return None


def ensure_bpffs(path: str = DEFAULT_BPFFS) -> str:
    """Mount bpffs at ``path`` unless a bpffs is already there; returns the mount point."""
    with _lock:
        if fs_magic(path) == BPF_FS_MAGIC:
            return path
        mount("bpf", path, "bpf", "mode=0700")
        return path


def ensure_bpffs_for(pin_path: str) -> None:
    """Make sure the directory of ``pin_path`` is on a bpffs, mounting /sys/fs/bpf if needed."""
    d = os.path.dirname(os.path.abspath(pin_path)) or "/"
    magic = fs_magic(d)
    if magic == BPF_FS_MAGIC:
        return
    if os.path.abspath(d).startswith(DEFAULT_BPFFS) and fs_magic(DEFAULT_BPFFS) != BPF_FS_MAGIC:
        ensure_bpffs(DEFAULT_BPFFS)
        if d != DEFAULT_BPFFS:
            os.makedirs(d, exist_ok=True)
        return
    if magic is None and fs_magic(os.path.dirname(d)) == BPF_FS_MAGIC:
        os.makedirs(d, exist_ok=True)
        return
    if magic is not None and magic != BPF_FS_MAGIC:
        raise Error(f"cannot pin at {pin_path}: {d} is not on a BPF filesystem (use a path under {DEFAULT_BPFFS})")


def find_tracefs(mount_if_missing: bool = True) -> str:
    """The tracefs mount point (mounting it at /sys/kernel/tracing if nothing is mounted)."""
    for p in (DEFAULT_TRACEFS, "/sys/kernel/debug/tracing"):
        if fs_magic(p) == TRACEFS_MAGIC:
            return p
    for mnt, typ in _mounts():
        if typ == "tracefs":
            return mnt
    if not mount_if_missing:
        raise Error("tracefs is not mounted")
    with _lock:
        if fs_magic(DEFAULT_TRACEFS) != TRACEFS_MAGIC:
            mount("nodev", DEFAULT_TRACEFS, "tracefs")
    return DEFAULT_TRACEFS


CGROUP2_MAGIC = 0x63677270


def find_cgroup2(mount_if_missing: bool = True) -> str:
    """A cgroup v2 mount point (/sys/fs/cgroup or unified), mounting one if none exists."""
    for p in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if fs_magic(p) == CGROUP2_MAGIC:
            return p
    for mnt, typ in _mounts():
        if typ == "cgroup2":
            return mnt
    if not mount_if_missing:
        raise Error("no cgroup2 filesystem is mounted")
    target = "/run/pybpf/cgroup2"
    with _lock:
        if fs_magic(target) != CGROUP2_MAGIC:
            mount("cgroup2", target, "cgroup2")
    return target
