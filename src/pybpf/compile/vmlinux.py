"""``vmlinux.h`` for ``#include "vmlinux.h"``: generated from the running kernel's BTF, cached.

The header is produced by :func:`generate` (pybpf's own BTF-to-C dumper,
:func:`pybpf.btf.cdump.dump_c`; no bpftool, no kernel headers) and kept at
``<cache>/compile/vmlinux/<btf-hash>-<generator-id>/vmlinux.h``, so it is made
once per kernel (and per version of the dumper).  The compile driver puts
that directory last on the include path (``-idirafter``): a ``vmlinux.h`` of
the user's own, next to the source or in ``include_dirs``, still wins.

The BTF hash (BLAKE2b of ``/sys/kernel/btf/vmlinux``) is memoized per boot in
``<cache>/compile/btfhash.json`` so that warm compiles need not re-read the BTF.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from typing import Callable, Optional

from pybpf.errors import CompileError

from . import store

__all__ = ["VMLINUX_BTF", "btf_hash", "generator_id", "generate", "header_dir", "ensure_header"]

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
_BOOT_ID = "/proc/sys/kernel/random/boot_id"

_lock = threading.Lock()
_hash_memo: dict[tuple, str] = {}
_gen_memo: list[str] = []
_fallback: dict[str, str] = {}  # cache dir -> temp dir, when the cache is not writable

#: Test hook: replace with ``(identity, fn(btf_path) -> header text)`` to use another generator.
override: Optional[tuple[str, Callable[[str], str]]] = None


def _boot_id() -> str:
    try:
        with open(_BOOT_ID) as f:
            return f.read().strip()
    except OSError:
        return ""


def btf_hash(path: str = VMLINUX_BTF) -> Optional[str]:
    """BLAKE2b-160 of the kernel BTF at ``path``, or None if there is none.

    For the running kernel's BTF the result is remembered per boot (the BTF
    cannot change without a reboot), in memory and on disk.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    boot = _boot_id() if path == VMLINUX_BTF else ""
    sig = (path, st.st_size, st.st_mtime_ns, st.st_ino, boot)
    with _lock:
        hit = _hash_memo.get(sig)
    if hit:
        return hit
    memo_file = os.path.join(store.compile_dir(), "btfhash.json")
    if boot:
        try:
            with open(memo_file) as f:
                m = json.load(f)
            if isinstance(m, dict) and m.get("sig") == list(sig) and isinstance(m.get("hash"), str):
                with _lock:
                    _hash_memo[sig] = m["hash"]
                return m["hash"]
        except (OSError, ValueError):
            pass
    h = store.file_digest(path)
    if h is None:
        return None
    with _lock:
        _hash_memo[sig] = h
    if boot:
        store.atomic_write(memo_file, json.dumps({"sig": list(sig), "hash": h}).encode())
    return h


def generator_id() -> str:
    """Identity of the vmlinux.h generator (changes when the dumper's code changes)."""
    if override is not None:
        return override[0]
    with _lock:
        if _gen_memo:
            return _gen_memo[0]
    # hash the dumper's source files without importing them (warm compiles stay cheap)
    d = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "btf")
    h = hashlib.blake2b(digest_size=8)
    try:
        names = sorted(n for n in os.listdir(d) if n.startswith("cdump") and n.endswith(".py"))
        for name in names:
            with open(os.path.join(d, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    except OSError:
        names = []
    ident = "cdump-" + h.hexdigest() if names else "none"
    with _lock:
        _gen_memo[:] = [ident]
    return ident


def generate(btf_path: str = VMLINUX_BTF) -> str:
    """The text of ``vmlinux.h`` for the kernel BTF at ``btf_path``.

    This is the one place that makes the header: pybpf's BTF C dumper.
    """
    if override is not None:
        return override[1](btf_path)
    try:
        from pybpf.btf.cdump import dump_c
    except ImportError as e:  # pragma: no cover - the dumper ships with pybpf
        raise CompileError(f"cannot generate vmlinux.h: pybpf.btf.cdump unavailable ({e})") from None
    from pybpf.btf import BTF

    btf = BTF.load_vmlinux(btf_path)
    try:
        return dump_c(btf, cache=False)  # we cache the result ourselves
    except TypeError:
        return dump_c(btf)


def header_dir(btf_path: str = VMLINUX_BTF) -> str:
    """The directory that holds (or will hold) the generated vmlinux.h for this kernel."""
    h = btf_hash(btf_path)
    if h is None:
        raise CompileError(f"vmlinux.h requested but the kernel has no BTF ({btf_path} missing): "
                           "build the kernel with CONFIG_DEBUG_INFO_BTF=y or ship your own vmlinux.h")
    return os.path.join(store.compile_dir(), "vmlinux", f"{h}-{generator_id()}")


def _guarded(text: str) -> str:
    # bpf_tracing.h keys the x86 pt_regs register names off __VMLINUX_H__.
    if "__VMLINUX_H__" in text:
        return text
    return f"#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n{text}\n#endif /* __VMLINUX_H__ */\n"


def ensure_header(progress: Optional[Callable[[str], None]] = None, btf_path: str = VMLINUX_BTF) -> str:
    """Directory containing an up-to-date generated ``vmlinux.h`` (generating it if needed).

    ``progress`` is called if generation takes more than about a second.
    """
    d = header_dir(btf_path)
    d = _fallback.get(d, d)
    path = os.path.join(d, "vmlinux.h")
    if os.path.isfile(path):
        return d
    from .driver import slow_notice  # local: driver imports this module

    t0 = time.monotonic()
    with slow_notice(progress, "generating vmlinux.h from the kernel's BTF (once per kernel)"):
        text = _guarded(generate(btf_path))
    if not store.atomic_write(path, text.encode("utf-8", "surrogateescape")):
        # unwritable cache: keep the header for this process only
        import atexit
        import shutil
        import tempfile

        d = tempfile.mkdtemp(prefix="pybpf-vmlinux-")
        atexit.register(shutil.rmtree, d, True)
        path = os.path.join(d, "vmlinux.h")
        if not store.atomic_write(path, text.encode("utf-8", "surrogateescape")):
            raise CompileError(f"cannot write the generated vmlinux.h (tried {header_dir(btf_path)} and {d})")
        _fallback[header_dir(btf_path)] = d
        return d
    _prune(os.path.dirname(d))
    if progress is not None and time.monotonic() - t0 > 1.0:
        progress(f"vmlinux.h ready: {path}")
    return d


def _prune(root: str, keep: int = 3) -> None:
    import shutil

    try:
        dirs = sorted((e for e in os.scandir(root) if e.is_dir()), key=lambda e: e.stat().st_mtime_ns, reverse=True)
        for e in dirs[keep:]:
            shutil.rmtree(e.path, ignore_errors=True)
    except OSError:
        pass
