"""Which processes hold BPF objects, and what kind of object an fd is.

:func:`obj_refs` answers what ``bpftool`` prints as ``pids comm(pid)``: for each
program/map/link/BTF id, the processes with an fd to it. bpftool gets this from
a BPF task_file iterator; pybpf reads ``/proc`` instead (no program load, works
without BTF): every ``/proc/<pid>/fd/*`` whose link is ``anon_inode:bpf-prog``,
``anon_inode:bpf-map``, ``anon_inode:bpf_link``/``bpf-link`` or ``anon_inode:btf`` has its
id in ``/proc/<pid>/fdinfo/<fd>`` (``prog_id``, ``map_id``, ``link_id``,
``btf_id``). Processes are listed once each, by pid; ``comm`` is the thread
group leader's (``/proc/<pid>/comm``), as bpftool shows it. Processes whose
``/proc`` entries we may not read (no ptrace access) are skipped silently.
"""

from __future__ import annotations

import os

__all__ = ["ObjRef", "obj_refs", "fd_kind", "KINDS"]

#: Object kind -> the anon inode name of its fds and the fdinfo key holding its id.
KINDS: dict[str, tuple[str, str]] = {
    "prog": ("anon_inode:bpf-prog", "prog_id:"),
    "map": ("anon_inode:bpf-map", "map_id:"),
    "link": ("anon_inode:bpf_link", "link_id:"),
    "btf": ("anon_inode:btf", "btf_id:"),
}
# Link fds made by BPF_LINK_CREATE are "bpf_link", those from BPF_OBJ_GET of a pin "bpf-link".
_ALIASES = {"anon_inode:bpf-link": "link"}
_BY_LINK = {**{v[0]: k for k, v in KINDS.items()}, **_ALIASES}


class ObjRef(tuple):
    """A process holding an fd to a BPF object: ``(pid, comm)``.

    A tuple subclass rather than ``typing.NamedTuple``: the CLI imports this on
    every start and ``typing`` alone costs milliseconds.
    """

    __slots__ = ()

    def __new__(cls, pid: int, comm: str) -> "ObjRef":
        return tuple.__new__(cls, (pid, comm))

    @property
    def pid(self) -> int:
        return self[0]

    @property
    def comm(self) -> str:
        return self[1]

    def __repr__(self) -> str:
        return f"ObjRef(pid={self[0]!r}, comm={self[1]!r})"


def fd_kind(fd: int, pid: int | str = "self") -> str | None:
    """'prog', 'map', 'link' or 'btf' for a BPF object fd (None for anything else)."""
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None
    return _BY_LINK.get(target)


def _fdinfo_id(path: str, key: str) -> int | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    i = data.find(key.encode())
    if i < 0:
        return None
    j = data.find(b"\n", i)
    try:
        return int(data[i + len(key):j if j >= 0 else None])
    except ValueError:
        return None


def _comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().rstrip(b"\n").decode(errors="replace")
    except OSError:
        return ""


def obj_refs(kind: str) -> dict[int, list[ObjRef]]:
    """Object id -> processes (ascending pid, each once) holding an fd to it.

    ``kind`` is 'prog', 'map', 'link' or 'btf'. The calling process counts like
    any other (bpftool likewise lists itself when it holds fds).
    """
    try:
        _link, key = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown BPF object kind {kind!r} (expected one of {', '.join(KINDS)})") from None
    names = {n for n, k in _BY_LINK.items() if k == kind}
    out: dict[int, list[ObjRef]] = {}
    readlink, listdir = os.readlink, os.listdir
    try:
        pids = sorted((p for p in listdir("/proc") if p.isdigit()), key=int)
    except OSError:
        return out
    for pid in pids:
        base = f"/proc/{pid}/fd/"
        try:
            fds = listdir(base)
        except OSError:
            continue
        comm: str | None = None
        seen: set[int] = set()
        for fd in fds:
            try:
                if readlink(base + fd) not in names:
                    continue
            except OSError:
                continue
            obj_id = _fdinfo_id(f"/proc/{pid}/fdinfo/{fd}", key)
            if obj_id is None or obj_id in seen:
                continue
            seen.add(obj_id)
            if comm is None:
                comm = _comm(pid)
            out.setdefault(obj_id, []).append(ObjRef(int(pid), comm))
    return out
