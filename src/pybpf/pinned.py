"""Where BPF objects are pinned: walk every mounted bpffs and map object ids to paths.

This is what ``bpftool -f/--bpffs ... show`` prints as ``pinned PATH``: each
bpf filesystem listed in ``/proc/mounts`` is walked (symlinks not followed),
every file is opened with BPF_OBJ_GET, and objects of the requested kind are
recorded by id. Files that are not BPF objects (iterator outputs such as
``maps.debug``) or that we may not open are skipped.
"""

from __future__ import annotations

import os
from typing import Iterator

from ._sys import cmds
from .errors import BPFError
from .pids import fd_kind

__all__ = ["pinned_paths", "walk_pinned", "bpffs_mounts"]


def bpffs_mounts() -> list[str]:
    """Mount points of every bpf filesystem (in /proc/mounts order)."""
    out: list[str] = []
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].startswith("bpf"):
                    out.append(parts[1].replace("\\040", " "))
    except OSError:
        pass
    return out


def pinned_paths(kind: str) -> dict[int, list[str]]:
    """Object id -> pinned paths for ``kind`` ('prog', 'map' or 'link'), in walk order."""
    out: dict[int, list[str]] = {}
    for obj_id, path in walk_pinned(kind):
        out.setdefault(obj_id, []).append(path)
    return out


def walk_pinned(kind: str) -> Iterator[tuple[int, str]]:
    """(object id, path) of every pin of a ``kind`` object, in directory walk order."""
    if kind not in ("prog", "map", "link"):
        raise ValueError(f"pinned objects are programs, maps or links, not {kind!r}")
    info = {"prog": cmds.prog_info, "map": cmds.map_info, "link": cmds.link_info}[kind]
    for mnt in bpffs_mounts():
        for root, _dirs, files in os.walk(mnt, followlinks=False):
            for name in files:
                path = os.path.join(root, name)
                try:
                    fd = cmds.obj_get(path)
                except (BPFError, OSError):
                    continue
                with fd:
                    if fd_kind(fd.fd) != kind:
                        continue
                    try:
                        obj_id = int(info(fd.fd).id)
                    except BPFError:
                        continue
                yield obj_id, path
