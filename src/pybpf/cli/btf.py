"""``pybpf btf``: show/list (with prog_ids/map_ids/pids) and dump (raw listing or C)."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .._sys import cmds
from ..errors import BPFError, Error
from ._common import Args, CLIError, Context, is_prefix, select, strerror, strtoul
from ._objects import BPF_F_RDONLY, LibbpfHashmap, ShowTables, btf_fd, iter_ids, map_fd, prog_fd

HELP = """Usage: pybpf btf { show | list } [id BTF_ID]
       pybpf btf dump BTF_SRC [format FORMAT] [root_id ROOT_ID]
       pybpf btf help

       BTF_SRC := { id BTF_ID | prog PROG | map MAP [{key | value | kv | all}] |
                    file FILE }
       FORMAT  := { raw | c [unsorted] }
       MAP := { id MAP_ID | pinned FILE | name MAP_NAME }
       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} }
"""

SYSFS_VMLINUX = "/sys/kernel/btf/vmlinux"


def _users() -> tuple[LibbpfHashmap, LibbpfHashmap]:
    """BTF id -> prog ids / map ids using it, in bpftool's (hashmap) order."""
    progs, maps = LibbpfHashmap(), LibbpfHashmap()
    for kind, table in (("prog", progs), ("map", maps)):
        info = cmds.prog_info if kind == "prog" else cmds.map_info
        for obj_id in iter_ids(kind):
            try:
                fd = cmds.fd_by_id(kind, obj_id, BPF_F_RDONLY if kind == "map" else 0)
            except BPFError as e:
                if e.errno == 2:
                    continue
                raise CLIError(f"can't get {kind} by id ({obj_id}): {strerror(e)}") from None
            with fd:
                b = int(info(fd.fd).btf_id)
            if b:
                table.append(b, obj_id)
    return progs, maps


def _show_one(ctx: Context, fd: int, progs: LibbpfHashmap, maps: LibbpfHashmap, t: ShowTables) -> Any:
    try:
        i, name = cmds.btf_info(fd)
    except BPFError as e:
        raise CLIError(f"can't get BTF object info: {strerror(e)}") from None
    bid = int(i.id)
    if ctx.json:
        o: dict[str, Any] = {"id": bid, "size": int(i.btf_size), "prog_ids": progs.get(bid),
                             "map_ids": maps.get(bid)}
        t.pids_json(o, bid)
        o["kernel"] = bool(i.kernel_btf)
        if name:
            o["name"] = name
        return o
    label = f"[{name}]" if i.kernel_btf else (name or "<anon>")
    out = f"{bid}: name {label}  size {i.btf_size}B"
    if progs.get(bid):
        out += "  prog_ids " + ",".join(map(str, progs.get(bid)))
    if maps.get(bid):
        out += "  map_ids " + ",".join(map(str, maps.get(bid)))
    return out + t.pids_plain(bid) + "\n"


def do_show(ctx: Context, args: Args) -> int:
    fd = btf_fd(args) if len(args) == 2 else None
    try:
        if args:
            raise CLIError(f"what is '{args.peek()}'?")
        progs, maps = _users()
        t = ShowTables(ctx, "btf", pins=False)
        if fd is not None:
            r = _show_one(ctx, fd.fd, progs, maps, t)
            ctx.emit_json(r) if ctx.json else sys.stdout.write(r)
            return 0
        objs = []
        for obj_id in iter_ids("btf"):
            try:
                bfd = cmds.fd_by_id("btf", obj_id)
            except BPFError as e:
                if e.errno == 2:
                    continue
                raise CLIError(f"can't get BTF object by id ({obj_id}): {strerror(e)}") from None
            with bfd:
                objs.append(_show_one(ctx, bfd.fd, progs, maps, t))
        ctx.emit_json(objs) if ctx.json else sys.stdout.write("".join(objs))
        return 0
    finally:
        if fd is not None:
            fd.close()


# ------------------------------------------------------------------------------ dump
def _vmlinux() -> Any:
    from ..btf import BTF

    try:
        return BTF.load_vmlinux()
    except (Error, OSError) as e:
        raise CLIError(f"failed to parse vmlinux BTF at '{SYSFS_VMLINUX}': {e}") from None


def _from_kernel(btf_id: int) -> Any:
    from ..btf import BTF

    try:
        with cmds.fd_by_id("btf", btf_id) as fd:
            info, name = cmds.btf_info(fd.fd)
            data = cmds.btf_data(fd.fd)
    except BPFError as e:
        raise CLIError(f"get btf by id ({btf_id}): {strerror(e)}") from None
    base = None
    if info.kernel_btf and name != "vmlinux":
        print(f"Warning: valid base BTF was not specified with -B option, falling back to standard base BTF "
              f"({SYSFS_VMLINUX})", file=sys.stderr)
        base = _vmlinux()
    return BTF.from_bytes(data, base=base)


def _from_file(path: str) -> Any:
    from ..btf import BTF
    from ..btf_raw import btf_from_elf

    if path == SYSFS_VMLINUX:
        return _vmlinux()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CLIError(f"failed to load BTF from {path}: {strerror(e)}") from None
    if data[:4] == b"\x7fELF":
        sec = btf_from_elf(data)
        if sec is None:
            raise CLIError(f"failed to load BTF from {path}: no .BTF section")
        data = sec
    base = _vmlinux() if path.startswith("/sys/kernel/btf/") else None
    try:
        return BTF.from_bytes(data, base=base)
    except Error as e:
        raise CLIError(f"failed to load BTF from {path}: {e}") from None


def do_dump(ctx: Context, args: Args) -> int:
    args.require(2)
    src = args.next()
    roots: list[int] = []
    if is_prefix(src, "map"):
        with map_fd(args, BPF_F_RDONLY) as fd:
            mi = cmds.map_info(fd.fd)
        kt, vt = int(mi.btf_key_type_id), int(mi.btf_value_type_id)
        if args.at("key"):
            args.next()
            roots = [kt]
        elif args.at("value"):
            args.next()
            roots = [vt]
        elif args.at("all"):
            args.next()
        else:
            if args.at("kv"):
                args.next()
            roots = [kt, vt]
        btf = _from_kernel(int(mi.btf_id))
    elif is_prefix(src, "prog"):
        with prog_fd(args) as fd:
            btf = _from_kernel(int(cmds.prog_info(fd.fd).btf_id))
    elif is_prefix(src, "id"):
        btf = _from_kernel(strtoul(args.next(), "ID"))
    elif is_prefix(src, "file"):
        path = args.next()
        if path == SYSFS_VMLINUX and not ctx.json:
            print(f"skipping {path} (will be loaded as base)", file=sys.stderr)
        if args.at("file"):
            raise CLIError("merging several BTF files is not supported by pybpf yet")
        btf = _from_file(path)
    else:
        raise CLIError(f"unrecognized BTF source specifier: '{src}'")
    fmt_c, sort, filtered = False, True, bool(roots)
    while args:
        w = args.next()
        if is_prefix(w, "format"):
            if not args:
                raise CLIError("expecting value for 'format' option")
            f = args.next()
            if f not in ("c", "raw"):
                raise CLIError(f"unrecognized format specifier: '{f}', possible values: raw, c")
            fmt_c = f == "c"
        elif is_prefix(w, "root_id"):
            if filtered:
                raise CLIError("cannot use root_id with other type filtering")
            if len(roots) == 16:
                raise CLIError("only 16 root_id are supported")
            s = args.next()
            try:
                rid = strtoul(s, "root ID")
            except CLIError:
                raise CLIError(f"can't parse {s} as root ID") from None
            if rid in roots:
                raise CLIError(f"duplicate root_id {rid} supplied")
            roots.append(rid)
        elif is_prefix(w, "unsorted"):
            sort = False
        else:
            raise CLIError(f"unrecognized option: '{w}'")
    for r in roots:
        if r > btf.last_id:
            raise CLIError(f"invalid root ID: {r}")
    if fmt_c:
        if ctx.json:
            raise CLIError("JSON output for C-syntax dump is not supported")
        try:
            from ..btf.cdump import dump_c
        except ImportError:
            raise CLIError("format c needs pybpf.btf.cdump, which this pybpf does not have yet") from None
        sys.stdout.write(dump_c(btf, types=roots or None, sort=sort, kfuncs=True))
        return 0
    from ..btf_raw import RawBTF, raw_json, raw_text

    raw = RawBTF.from_btf(btf)
    ids = roots or None
    if ctx.json:
        ctx.emit_json(raw_json(raw, ids), fast=True)
    else:
        raw_text(raw, ids)
    return 0


VERBS = [("show", do_show), ("list", do_show), ("help", do_show), ("dump", do_dump)]


def run(ctx: Context, words: list[str]) -> int:
    return select(ctx, "btf", VERBS, words, HELP)
