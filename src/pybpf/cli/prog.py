"""``pybpf prog``: show/list, dump xlated|jited, pin, run, tracelog, profile (bpftool's grammar)."""

from __future__ import annotations

import ctypes
import sys
import time

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .._sys import cmds
from .._sys.consts import ProgramType
from .._sys.info import ProgInfo
from .._sys.syscall import FD
from ..errors import BPFError
from ._common import Args, CLIError, Context, select, strerror, type_json, type_str
from ._objects import ShowTables, iter_ids, prog_fd, prog_fds, prog_full_name

HELP = """Usage: pybpf prog { show | list } [PROG]
       pybpf prog dump xlated PROG [{ file FILE | [opcodes] [linum] [visual] }]
       pybpf prog dump jited  PROG [{ file FILE | [opcodes] [linum] }]
       pybpf prog pin   PROG FILE
       pybpf prog { load | loadall } OBJ  PATH \\
                         [type TYPE] [{ offload_dev | xdpmeta_dev } NAME] \\
                         [map { idx IDX | name NAME } MAP]\\
                         [pinmaps MAP_DIR]\\
                         [autoattach]\\
                         [kernel_btf BTF_FILE]
       pybpf prog attach PROG ATTACH_TYPE [MAP]
       pybpf prog detach PROG ATTACH_TYPE [MAP]
       pybpf prog verify OBJ [program NAME] [type TYPE] [log_level {1|2}] [kernel_btf BTF_FILE]
       pybpf prog run PROG \\
                         data_in FILE \\
                         [data_out FILE [data_size_out L]] \\
                         [ctx_in FILE [ctx_out FILE [ctx_size_out M]]] \\
                         [repeat N]
       pybpf prog profile PROG [duration DURATION] METRICs
       pybpf prog tracelog
       pybpf prog help

       MAP := { id MAP_ID | pinned FILE | name MAP_NAME }
       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }
       TYPE := { socket | kprobe | kretprobe | classifier | action |
                 tracepoint | raw_tracepoint | xdp | perf_event | cgroup/skb |
                 cgroup/sock | cgroup/dev | lwt_in | lwt_out | lwt_xmit |
                 lwt_seg6local | sockops | sk_skb | sk_msg | lirc_mode2 |
                 sk_reuseport | flow_dissector | cgroup/sysctl |
                 cgroup/bind4 | cgroup/bind6 | cgroup/post_bind4 |
                 cgroup/post_bind6 | cgroup/connect4 | cgroup/connect6 |
                 cgroup/connect_unix | cgroup/getpeername4 | cgroup/getpeername6 |
                 cgroup/getpeername_unix | cgroup/getsockname4 | cgroup/getsockname6 |
                 cgroup/getsockname_unix | cgroup/sendmsg4 | cgroup/sendmsg6 |
                 cgroup/sendmsg_unix | cgroup/recvmsg4 | cgroup/recvmsg6 | cgroup/recvmsg_unix |
                 cgroup/getsockopt | cgroup/setsockopt | cgroup/sock_release |
                 struct_ops | fentry | fexit | freplace | sk_lookup }
       ATTACH_TYPE := { sk_msg_verdict | sk_skb_verdict | sk_skb_stream_verdict |
                        sk_skb_stream_parser | flow_dissector }
       METRIC := { cycles | instructions | l1d_loads | llc_misses | itlb_misses | dtlb_misses }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} |
                    {-f|--bpffs} | {-n|--nomount} }
"""


def fdinfo(fd: int) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def boot_time(nsecs: int, as_json: bool) -> str:
    """bpftool's print_boot_time(): local time ``%FT%T%z`` (JSON: epoch seconds)."""
    real = time.clock_gettime_ns(time.CLOCK_REALTIME)
    boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    secs = (real // 10**9 - boot // 10**9) + (real % 10**9 - boot % 10**9 + nsecs) // 10**9
    if as_json:
        return str(secs)
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(secs))


def map_ids(fd: int, n: int) -> list[int]:
    if not n:
        return []
    ids = (ctypes.c_uint32 * n)()
    i2 = cmds.obj_info(fd, ProgInfo(nr_map_ids=n, map_ids=ctypes.addressof(ids)))
    return list(ids[:min(n, int(i2.nr_map_ids))])


def _info(fd: int) -> tuple[ProgInfo, bool]:
    try:
        return cmds.prog_info(fd), False
    except BPFError as e:
        if e.errno == 19:  # ENODEV: program of a vanished device (bpftool's "orphaned")
            return ProgInfo(), True
        raise CLIError(f"can't get prog info: {strerror(e)}") from None


def _dev_plain(i: ProgInfo) -> str:
    if not i.ifindex:
        return ""
    return f"  offloaded_to ifindex {i.ifindex} ns_dev {i.netns_dev} ns_ino {i.netns_ino}"


def show_plain(fd: int, t: ShowTables) -> str:
    i, orphaned = _info(fd)
    out = [f"{i.id}: {type_str(ProgramType, i.type)}  "]
    name = prog_full_name(i, fd) if i.name[:1] else ""
    if name:
        out.append(f"name {name}  ")
    out.append("tag " + bytes(i.tag).hex() + _dev_plain(i) + ("  gpl" if i.gpl_compatible else ""))
    if i.run_time_ns:
        out.append(f" run_time_ns {i.run_time_ns} run_cnt {i.run_cnt}")
    if i.recursion_misses:
        out.append(f" recursion_misses {i.recursion_misses}")
    out.append("\n")
    if i.load_time:
        out.append(f"\tloaded_at {boot_time(i.load_time, False)}  uid {i.created_by_uid}\n")
    out.append(f"\txlated {i.xlated_prog_len}B")
    out.append(f"  jited {i.jited_prog_len}B" if i.jited_prog_len else "  not jited")
    mem = fdinfo(fd).get("memlock")
    if mem:
        out.append(f"  memlock {mem}B")
    if orphaned:
        out.append("  orphaned")
    ids = map_ids(fd, int(i.nr_map_ids))
    if ids:
        out.append("  map_ids " + ",".join(map(str, ids)))
    out.append(t.pinned_plain(i.id))
    if i.btf_id:
        out.append(f"\n\tbtf_id {i.btf_id}")
    out.append(t.pids_plain(i.id))
    out.append("\n")
    out.append(_metadata_plain(fd, ids))
    return "".join(out)


def show_json(fd: int, t: ShowTables) -> dict[str, Any]:
    i, orphaned = _info(fd)
    o: dict[str, Any] = {"id": int(i.id), "type": type_json(ProgramType, i.type)}
    if i.name[:1]:
        o["name"] = prog_full_name(i, fd)
    o["tag"] = bytes(i.tag).hex()
    o["gpl_compatible"] = bool(i.gpl_compatible)
    if i.run_time_ns:
        o["run_time_ns"], o["run_cnt"] = int(i.run_time_ns), int(i.run_cnt)
    if i.recursion_misses:
        o["recursion_misses"] = int(i.recursion_misses)
    if i.ifindex:
        o["dev"] = {"ifindex": int(i.ifindex), "ns_dev": int(i.netns_dev), "ns_inode": int(i.netns_ino)}
    if i.load_time:
        o["loaded_at"] = int(boot_time(i.load_time, True))
        o["uid"] = int(i.created_by_uid)
    o["orphaned"] = orphaned
    o["bytes_xlated"] = int(i.xlated_prog_len)
    o["jited"] = bool(i.jited_prog_len)
    if i.jited_prog_len:
        o["bytes_jited"] = int(i.jited_prog_len)
    mem = fdinfo(fd).get("memlock")
    if mem:
        o["bytes_memlock"] = int(mem)
    ids = map_ids(fd, int(i.nr_map_ids))
    if ids:
        o["map_ids"] = ids
    if i.btf_id:
        o["btf_id"] = int(i.btf_id)
    t.pinned_json(o, i.id)
    t.pids_json(o, i.id)
    meta = _metadata(fd, ids, plain=False)
    if meta:
        o["metadata"] = meta
    return o


def _metadata(fd: int, ids: list[int], plain: bool) -> "dict[str, Any] | None":
    """``bpf_metadata_*`` variables of the program's .rodata map, formatted as bpftool does."""
    if not ids:
        return None
    from .._sys.consts import MapType

    for mid in ids:
        try:
            with cmds.fd_by_id("map", mid) as mfd:
                mi = cmds.map_info(mfd.fd)
                if (mi.type != MapType.ARRAY or mi.key_size != 4 or mi.max_entries != 1
                        or not mi.btf_value_type_id or b".rodata" not in bytes(mi.name)):
                    continue
                from ._btfname import datasec_var_names

                with cmds.fd_by_id("btf", int(mi.btf_id)) as bfd:
                    names = datasec_var_names(cmds.btf_data(bfd.fd), int(mi.btf_value_type_id))
                if not any(n.startswith("bpf_metadata_") for n in names):
                    continue  # the common case: no need for the map and BTF packages
                from ..map import Map

                with Map.from_fd(mfd.fd) as m:
                    value = m.lookup(0)
        except BPFError:
            return None
        if value is None:
            return None
        try:
            from ..btf import BTF
            from ..btf.values import format_value  # type: ignore[attr-defined]

            with cmds.fd_by_id("btf", int(mi.btf_id)) as bfd:
                btf = BTF.from_bytes(cmds.btf_data(bfd.fd))
            sec = btf[int(mi.btf_value_type_id)]
            out: dict[str, Any] = {}
            for v in getattr(sec, "vars", ()):
                var = v.type
                if var.name.startswith("bpf_metadata_"):
                    raw = value[v.offset:v.offset + v.size]
                    out[var.name[len("bpf_metadata_"):]] = format_value(btf, var.type_id, raw, plain_text=plain)
            return out or None
        except Exception:  # noqa: BLE001 - metadata is a best-effort extra
            return None
    return None


def _metadata_plain(fd: int, ids: list[int]) -> str:
    meta = _metadata(fd, ids, plain=True)
    if not meta:
        return ""
    from ._json import dumps

    return "\tmetadata:" + "".join(f"\n\t\t{k} = {dumps(v)}" for k, v in meta.items()) + "\n"


def do_show(ctx: Context, args: Args) -> int:
    t = ShowTables(ctx, "prog")
    if len(args) == 2:
        fds = prog_fds(args)
        if not fds:
            raise CLIError("no program matches this handle")
        try:
            if ctx.json:
                found = [show_json(fd.fd, t) for fd in fds]
                ctx.emit_json(found if len(found) > 1 else found[0])
            else:
                sys.stdout.write("".join(show_plain(fd.fd, t) for fd in fds))
        finally:
            for fd in fds:
                fd.close()
        return 0
    args.done()
    plain: list[str] = []
    objs: list[dict[str, Any]] = []
    for obj_id in iter_ids("prog"):
        try:
            fd = cmds.fd_by_id("prog", obj_id)
        except BPFError as e:
            if e.errno == 2:
                continue
            raise CLIError(f"can't get prog by id ({obj_id}): {strerror(e)}") from None
        with fd:
            if ctx.json:
                objs.append(show_json(fd.fd, t))
            else:
                plain.append(show_plain(fd.fd, t))
    if ctx.json:
        ctx.emit_json(objs)
    else:
        sys.stdout.write("".join(plain))
    return 0


def do_pin(ctx: Context, args: Args) -> int:
    args.require(3)
    fd = prog_fd(args)
    with fd:
        pin_fd(ctx, fd, args.next("a path"))
    if ctx.json:
        print("null")
    return 0


def pin_fd(ctx: Context, fd: FD, path: str) -> None:
    """bpftool's do_pin_fd(): refuse existing paths, mount bpffs on the directory if needed."""
    import os

    from .._sys.fs import BPF_FS_MAGIC, fs_magic, mount

    if os.path.lexists(path):
        raise CLIError(f"can't pin BPF object: path '{path}' already exists")
    d = os.path.dirname(path) or "."
    if fs_magic(d) != BPF_FS_MAGIC:
        if not os.path.exists(d):
            raise CLIError(f"can't pin BPF object: dir '{d}' doesn't exist")
        if ctx.nomount:
            raise CLIError("no BPF file system found, not mounting it due to --nomount option")
        try:
            mount("bpf", d, "bpf", "mode=0700")
        except BPFError as e:
            raise CLIError(f"can't mount BPF file system to pin the object '{path}': {strerror(e)}") from None
    try:
        cmds.obj_pin(fd.fd, path)
    except BPFError as e:
        raise CLIError(f"can't pin the object ({path}): {strerror(e)}") from None


def do_dump(ctx: Context, args: Args) -> int:
    from .prog_dump import dump

    return dump(ctx, args)


def do_run(ctx: Context, args: Args) -> int:
    from .prog_run import run

    return run(ctx, args)


def do_tracelog(ctx: Context, args: Args) -> int:
    from .prog_run import tracelog

    return tracelog(ctx, args)


def do_profile(ctx: Context, args: Args) -> int:
    from .prog_run import profile

    return profile(ctx, args)


def _load_verb(name: str) -> Any:
    """``prog load|loadall|attach|detach|verify`` live in :mod:`.prog_load` (imported on use)."""
    def fn(ctx: Context, args: Args) -> int:
        from . import prog_load

        verb: Any = getattr(prog_load, f"do_{name}")
        return int(verb(ctx, args))
    return fn


VERBS = [
    ("show", do_show), ("list", do_show), ("help", do_show), ("dump", do_dump), ("pin", do_pin),
    ("load", _load_verb("load")), ("loadall", _load_verb("loadall")), ("attach", _load_verb("attach")),
    ("detach", _load_verb("detach")), ("tracelog", do_tracelog), ("run", do_run), ("profile", do_profile),
    ("verify", _load_verb("verify")),
]


def run(ctx: Context, words: list[str]) -> int:
    return select(ctx, "prog", VERBS, words, HELP)
