"""``pybpf map``: show/list, create, dump, lookup/update/getnext/delete, pin, queue ops, freeze."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .._sys import cmds
from .._sys.consts import MapType, ProgramType
from .._sys.info import MapInfo
from ..errors import BPFError
from ._common import Args, CLIError, Context, select, strerror, strtoul, type_json, type_str
from ._objects import BPF_F_RDONLY, ShowTables, iter_ids, map_fd, map_fds
from .prog import fdinfo, pin_fd

HELP = """Usage: pybpf map { show | list }   [MAP]
       pybpf map create     FILE type TYPE key KEY_SIZE value VALUE_SIZE \\
                                  entries MAX_ENTRIES name NAME [flags FLAGS] \\
                                  [inner_map MAP] [offload_dev NAME]
       pybpf map dump       MAP
       pybpf map update     MAP [key DATA] [value VALUE] [UPDATE_FLAGS]
       pybpf map lookup     MAP [key DATA]
       pybpf map getnext    MAP [key DATA]
       pybpf map delete     MAP  key DATA
       pybpf map pin        MAP  FILE
       pybpf map event_pipe MAP [cpu N index M]
       pybpf map peek       MAP
       pybpf map push       MAP value VALUE
       pybpf map pop        MAP
       pybpf map enqueue    MAP value VALUE
       pybpf map dequeue    MAP
       pybpf map freeze     MAP
       pybpf map help

       MAP := { id MAP_ID | pinned FILE | name MAP_NAME }
       DATA := { [hex] BYTES }
       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }
       VALUE := { DATA | MAP | PROG }
       UPDATE_FLAGS := { any | exist | noexist }
       TYPE := { hash | array | prog_array | perf_event_array | percpu_hash |
                 percpu_array | stack_trace | cgroup_array | lru_hash |
                 lru_percpu_hash | lpm_trie | array_of_maps | hash_of_maps |
                 devmap | devmap_hash | sockmap | cpumap | xskmap | sockhash |
                 cgroup_storage | reuseport_sockarray | percpu_cgroup_storage |
                 queue | stack | sk_storage | struct_ops | ringbuf | inode_storage |
                 task_storage | bloom_filter | user_ringbuf | cgrp_storage | arena }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} |
                    {-f|--bpffs} | {-n|--nomount} }
"""


def _name(i: MapInfo) -> str:
    return bytes(i.name).rstrip(b"\0").decode(errors="replace")


def show_plain(fd: int, i: MapInfo, t: ShowTables) -> str:
    fi = fdinfo(fd)
    name = _name(i)
    out = [f"{i.id}: {type_str(MapType, i.type)}  " + (f"name {name}  " if name else "") + f"flags 0x{i.map_flags:x}"]
    if i.ifindex:
        out.append(f"  offloaded_to ifindex {i.ifindex} ns_dev {i.netns_dev} ns_ino {i.netns_ino}")
    out.append(f"\n\tkey {i.key_size}B  value {i.value_size}B  max_entries {i.max_entries}")
    if fi.get("memlock"):
        out.append(f"  memlock {fi['memlock']}B")
    if i.type == MapType.PROG_ARRAY:
        opt, oj = fi.get("owner_prog_type"), fi.get("owner_jited")
        if opt is not None or oj is not None:
            out.append("\n\t")
        if opt is not None:
            out.append(f"owner_prog_type {type_str(ProgramType, int(opt))}  ")
        if oj is not None:
            out.append(f"owner{'' if int(oj) else ' not'} jited")
    out.append(t.pinned_plain(i.id))
    frozen = int(fi.get("frozen", "0") or 0)
    if i.btf_id or frozen:
        out.append("\n\t")
    if i.btf_id:
        out.append(f"btf_id {i.btf_id}")
    if frozen:
        out.append(f"{'  ' if i.btf_id else ''}frozen")
    out.append(t.pids_plain(i.id))
    out.append("\n")
    return "".join(out)


def show_json(fd: int, i: MapInfo, t: ShowTables) -> dict[str, Any]:
    fi = fdinfo(fd)
    o: dict[str, Any] = {"id": int(i.id), "type": type_json(MapType, i.type)}
    if _name(i):
        o["name"] = _name(i)
    o["flags"] = int(i.map_flags)
    if i.ifindex:
        o["dev"] = {"ifindex": int(i.ifindex), "ns_dev": int(i.netns_dev), "ns_inode": int(i.netns_ino)}
    o["bytes_key"], o["bytes_value"], o["max_entries"] = int(i.key_size), int(i.value_size), int(i.max_entries)
    if fi.get("memlock"):
        o["bytes_memlock"] = int(fi["memlock"])
    if i.type == MapType.PROG_ARRAY:
        if fi.get("owner_prog_type") is not None:
            o["owner_prog_type"] = type_json(ProgramType, int(fi["owner_prog_type"]))
        if fi.get("owner_jited") is not None:
            o["owner_jited"] = bool(int(fi["owner_jited"]))
    o["frozen"] = int(fi.get("frozen", "0") or 0)
    if i.btf_id:
        o["btf_id"] = int(i.btf_id)
    t.pinned_json(o, i.id)
    t.pids_json(o, i.id)
    return o


def do_show(ctx: Context, args: Args) -> int:
    t = ShowTables(ctx, "map")
    if len(args) == 2:
        fds = map_fds(args, BPF_F_RDONLY)
        if not fds:
            raise CLIError("no map matches this handle")
        try:
            items = [(fd.fd, cmds.map_info(fd.fd)) for fd in fds]
            if ctx.json:
                found = [show_json(fd, i, t) for fd, i in items]
                ctx.emit_json(found if len(found) > 1 else found[0])
            else:
                sys.stdout.write("".join(show_plain(fd, i, t) for fd, i in items))
        finally:
            for fd in fds:
                fd.close()
        return 0
    args.done()
    objs: list[Any] = []
    for obj_id in iter_ids("map"):
        try:
            fd = cmds.fd_by_id("map", obj_id, BPF_F_RDONLY)
        except BPFError as e:
            if e.errno == 2:
                continue
            raise CLIError(f"can't get map by id ({obj_id}): {strerror(e)}") from None
        with fd:
            i = cmds.map_info(fd.fd)
            objs.append(show_json(fd.fd, i, t) if ctx.json else show_plain(fd.fd, i, t))
    if ctx.json:
        ctx.emit_json(objs)
    else:
        sys.stdout.write("".join(objs))
    return 0


def _map_type(s: str) -> int:
    for t in MapType:
        if t.name.lower() == s and t != MapType.UNSPEC:
            return int(t)
    raise CLIError(f"unrecognized map type: {s}")


def do_create(ctx: Context, args: Args) -> int:
    args.require(7)
    path = args.next()
    mtype: int | None = None
    name: str | None = None
    sizes = {"key": 0, "value": 0, "entries": 0, "flags": 0}
    what = {"key": "key size", "value": "value size", "entries": "max entries", "flags": "flags"}
    inner = None
    ifindex = 0
    try:
        while args:
            args.require(2)
            w = args.next()
            if "type".startswith(w):
                if mtype is not None:
                    raise CLIError("map type already specified")
                mtype = _map_type(args.next())
            elif "name".startswith(w):
                name = args.next()
                if len(name) > 15:
                    print("Warning: map name is longer than 15 characters, it will be truncated.", file=sys.stderr)
            elif any(k.startswith(w) for k in sizes):
                k = next(k for k in sizes if k.startswith(w))
                if sizes[k]:
                    raise CLIError(f"{what[k]} already specified")
                sizes[k] = strtoul(args.next(), what[k])
            elif "offload_dev".startswith(w) or "dev".startswith(w):
                import socket

                dev = args.next()
                try:
                    ifindex = socket.if_nametoindex(dev)
                except OSError as e:
                    raise CLIError(f"unrecognized netdevice '{dev}': {strerror(e)}") from None
            elif "inner_map".startswith(w):
                inner = map_fd(args, BPF_F_RDONLY)
            else:
                raise CLIError(f"unknown arg {w}")
        if name is None:
            raise CLIError("map name not specified")
        from ..map import Map
        from ..spec import MapSpec

        spec = MapSpec(type=mtype or 0, key_size=sizes["key"], value_size=sizes["value"],  # type: ignore[arg-type]
                       max_entries=sizes["entries"], flags=sizes["flags"], name=name[:15], ifindex=ifindex)
        if inner is not None:
            spec.inner_map = Map.from_fd(inner.fd)
        try:
            m = Map.from_spec(spec)
        except BPFError as e:
            raise CLIError(f"map create failed: {strerror(e)}") from None
        finally:
            if spec.inner_map is not None:
                spec.inner_map.close()  # type: ignore[union-attr]
        with m:
            pin_fd(ctx, m._fd, path)
    finally:
        if inner is not None:
            inner.close()
    if ctx.json:
        print("null")
    return 0


def do_pin(ctx: Context, args: Args) -> int:
    args.require(3)
    with map_fd(args, BPF_F_RDONLY) as fd:
        pin_fd(ctx, fd, args.next("a path"))
    if ctx.json:
        print("null")
    return 0


def do_freeze(ctx: Context, args: Args) -> int:
    args.require(2)
    with map_fd(args) as fd:
        args.done()
        from .._sys.mapops import MapOps

        try:
            MapOps(fd.fd, 0, 0).freeze()
        except BPFError as e:
            raise CLIError(f"failed to freeze map: {strerror(e)}") from None
    if ctx.json:
        print("null")
    return 0


def _lazy(mod: str, fn: str) -> Any:
    def call(ctx: Context, args: Args) -> int:
        import importlib

        return int(getattr(importlib.import_module(mod, __package__), fn)(ctx, args))
    return call


VERBS = [
    ("show", do_show), ("list", do_show), ("help", do_show), ("dump", _lazy(".map_dump", "do_dump")),
    ("update", _lazy(".map_elem", "do_update")), ("lookup", _lazy(".map_elem", "do_lookup")),
    ("getnext", _lazy(".map_elem", "do_getnext")), ("delete", _lazy(".map_elem", "do_delete")),
    ("pin", do_pin), ("event_pipe", _lazy(".map_elem", "do_event_pipe")), ("create", do_create),
    ("peek", _lazy(".map_elem", "do_lookup")), ("push", _lazy(".map_elem", "do_update")),
    ("enqueue", _lazy(".map_elem", "do_update")), ("pop", _lazy(".map_elem", "do_pop")),
    ("dequeue", _lazy(".map_elem", "do_pop")), ("freeze", do_freeze),
]


def run(ctx: Context, words: list[str]) -> int:
    return select(ctx, "map", VERBS, words, HELP)
