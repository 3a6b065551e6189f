"""``pybpf prog load|loadall|attach|detach|verify`` (bpftool's grammar and messages).

``load`` pins the object's first program at PATH, ``loadall`` every program
under the directory PATH (named after the program); ``autoattach`` pins the
link of the program's auto-attachment instead when there is one. ``-d``
prints the loader's debug log (map creation, CO-RE decisions...) and each
program's verifier log, as bpftool prints libbpf's.

``verify`` (pybpf's own) loads each program of an object on its own with the
full verifier log, prints the log annotated with source lines, and unloads.
"""

from __future__ import annotations

import errno
import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .._sys import cmds
from .._sys.consts import AttachType
from .._sys.syscall import FD
from ..errors import BPFError, Error, VerifierError
from ._common import Args, CLIError, Context, is_prefix, strerror, strtoul
from ._objects import map_fd, prog_fd

EINVAL_EXIT = 256 - errno.EINVAL  # bpftool returns -EINVAL from these verbs: exit status 234


class LoadOptions:
    """What ``prog load|loadall OBJ PATH [...]`` asked for."""

    def __init__(self) -> None:
        self.file = ""
        self.path = ""
        self.prog_type: Any = None
        self.attach_type: Any = None
        self.maps: list[tuple[int, "str | None", FD]] = []  # (idx or -1, name, fd)
        self.offload_ifindex = 0
        self.xdpmeta_ifindex = 0
        self.pinmaps = ""
        self.autoattach = False
        self.kernel_btf = ""

    def close(self) -> None:
        for _, _, fd in self.maps:
            fd.close()


def _prog_type_by_name(name: str) -> tuple[Any, Any]:
    """libbpf_prog_type_by_name() as bpftool retries it (``TYPE`` then ``TYPE/``)."""
    from ..elf.sections import SECTION_DEFS, find_sec_def

    for cand in (name, name + "/"):
        d = find_sec_def(cand)
        if d is not None:
            return d.prog_type, d.attach_type
    names = " ".join(d.sec for d in SECTION_DEFS)
    raise CLIError(f"failed to guess program type from ELF section '{name}/'; supported section(type) names "
                   f"are: {names}")


def _ifindex(name: str) -> int:
    import socket

    try:
        return socket.if_nametoindex(name)
    except OSError as e:
        raise CLIError(f"unrecognized netdevice '{name}': {os.strerror(e.errno or errno.ENODEV)}") from None


def parse_load(args: Args) -> LoadOptions:
    args.require(2)
    o = LoadOptions()
    o.file, o.path = args.next(), args.next()
    try:
        while args:
            w = args.next()
            if is_prefix(w, "type"):
                if o.prog_type is not None:
                    raise CLIError("program type already specified")
                args.require(1)
                o.prog_type, o.attach_type = _prog_type_by_name(args.next())
            elif is_prefix(w, "map"):
                args.require(4)
                what = args.next()
                if is_prefix(what, "idx"):
                    s = args.next()
                    try:
                        idx, name = strtoul(s, "IDX"), None
                    except CLIError:
                        raise CLIError(f"can't parse {s} as IDX") from None
                elif is_prefix(what, "name"):
                    idx, name = -1, args.next()
                else:
                    raise CLIError(f"expected 'idx' or 'name', got: '{what}'?")
                o.maps.append((idx, name, map_fd(args)))
            elif is_prefix(w, "dev") or is_prefix(w, "offload_dev"):
                if is_prefix(w, "dev"):
                    sys.stderr.write("Warning: 'pybpf prog load [...] dev <ifname>' syntax is deprecated.\n"
                                     "Going further, please use 'offload_dev <ifname>' to offload program to "
                                     "device.\nFor applications using XDP hints only, use 'xdpmeta_dev <ifname>'.\n")
                if o.offload_ifindex:
                    raise CLIError("offload_dev already specified")
                if o.xdpmeta_ifindex:
                    raise CLIError("xdpmeta_dev and offload_dev are mutually exclusive")
                args.require(1)
                o.offload_ifindex = _ifindex(args.next())
            elif is_prefix(w, "xdpmeta_dev"):
                if o.xdpmeta_ifindex:
                    raise CLIError("xdpmeta_dev already specified")
                if o.offload_ifindex:
                    raise CLIError("xdpmeta_dev and offload_dev are mutually exclusive")
                args.require(1)
                o.xdpmeta_ifindex = _ifindex(args.next())
            elif is_prefix(w, "pinmaps"):
                args.require(1)
                o.pinmaps = args.next()
            elif is_prefix(w, "autoattach"):
                o.autoattach = True
            elif is_prefix(w, "kernel_btf"):
                args.require(1)
                o.kernel_btf = args.next()
            else:
                raise CLIError("expected no more arguments, 'type', 'map', 'offload_dev', 'xdpmeta_dev', 'pinmaps', "
                               f"'autoattach', or 'kernel_btf', got: '{w}'?")
    except BaseException:
        o.close()
        raise
    return o


def _reuse_maps(o: LoadOptions, spec: Any) -> dict[str, Any]:
    """bpftool's map replacement: names resolved to indexes (object map order), then by index."""
    keys = list(spec.maps)
    repl = sorted(o.maps, key=lambda t: t[0])
    resolved: list[tuple[int, FD]] = []
    for idx, name, fd in repl:
        if name is not None:
            found = next((i for i, k in enumerate(keys) if spec.maps[k].name == name), -1)
            if found < 0:
                raise CLIError(f"unable to find map '{name}'")
            idx = found
        resolved.append((idx, fd))
    resolved.sort(key=lambda t: t[0])
    out: dict[str, Any] = {}
    for idx, fd in resolved:
        if idx >= len(keys):
            raise CLIError(f"map idx '{idx}' not used")
        if keys[idx] in out:
            raise CLIError(f"replacement for map idx {idx} specified more than once")
        out[keys[idx]] = fd.fd
    return out


def _btf_targets(path: str) -> list[Any]:
    from ..btf import BTF

    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] == b"\x7fELF":
            import pybpf

            btf = pybpf.open(data).btf
            if btf is None:
                raise Error(f"{path} has no .BTF section")
            return [btf]
        return [BTF.from_bytes(data)]
    except (OSError, Error) as e:
        raise CLIError(f"failed to load kernel BTF from {path}: {e}") from None


def _mount_for_file(ctx: Context, path: str) -> None:
    """bpftool's mount_bpffs_for_file()."""
    from .._sys.fs import BPF_FS_MAGIC, fs_magic, mount

    if os.path.lexists(path):
        raise CLIError(f"can't pin BPF object: path '{path}' already exists")
    d = os.path.dirname(path) or "."
    if fs_magic(d) == BPF_FS_MAGIC:
        return
    if not os.path.exists(d):
        raise CLIError(f"can't pin BPF object: dir '{d}' doesn't exist")
    if ctx.nomount:
        raise CLIError("no BPF file system found, not mounting it due to --nomount option")
    try:
        mount("bpf", d, "bpf", "mode=0700")
    except BPFError as e:
        raise CLIError(f"can't mount BPF file system to pin the object '{path}': {strerror(e)}") from None


def _mount_dir(ctx: Context, d: str) -> None:
    """bpftool's create_and_mount_bpffs_dir()."""
    from .._sys.fs import BPF_FS_MAGIC, fs_magic, mount

    if fs_magic(d) == BPF_FS_MAGIC:
        return
    exists = os.path.exists(d)
    if not exists:
        parent = os.path.dirname(d.rstrip("/")) or "."
        if fs_magic(parent) == BPF_FS_MAGIC:
            return
        if not os.path.exists(parent):
            raise CLIError(f"can't create dir '{d}' to pin BPF object: parent dir '{parent}' doesn't exist")
    if ctx.nomount:
        raise CLIError("no BPF file system found, not mounting it due to --nomount option")
    if not exists:
        try:
            os.mkdir(d, 0o700)
        except OSError as e:
            raise CLIError(f"failed to create dir '{d}': {os.strerror(e.errno or 0)}") from None
    try:
        mount("bpf", d, "bpf", "mode=0700")
    except BPFError as e:
        if not exists:
            os.rmdir(d)
        raise CLIError(f"can't mount BPF file system on given dir '{d}': {strerror(e)}") from None


def _info(ctx: Context, msg: str) -> None:
    if not ctx.json:
        sys.stderr.write(msg + "\n")


def _pin_one(ctx: Context, prog: Any, path: str, autoattach: bool) -> None:
    """bpftool's auto_attach_program() / bpf_obj_pin()."""
    if autoattach:
        try:
            link = prog.attach()
        except Error:
            link = None
        if link is not None:
            try:
                if link.is_bpf_link:
                    link.pin(path)
                    return
            finally:
                link.close()  # a pinned link stays attached
        _info(ctx, f"Program {prog.name} does not support autoattach, falling back to pinning")
    prog.pin(path)


def _log_fn(ctx: Context) -> Any:
    if not ctx.debug:
        return None
    return lambda m: sys.stderr.write(f"pybpf: {m}\n")


def load(ctx: Context, args: Args, first_only: bool) -> int:
    import pybpf

    o = parse_load(args)
    pinned: list[str] = []
    try:
        try:
            spec = pybpf.open(o.file, log=_log_fn(ctx))
        except (Error, OSError) as e:
            raise CLIError(f"failed to open object file: {e}") from None
        for p in spec.programs.values():
            if o.prog_type is not None:
                p.type, p.expected_attach_type = o.prog_type, o.attach_type
            if o.xdpmeta_ifindex and int(p.type) == int(pybpf.ProgramType.XDP):
                p.flags = int(p.flags) | (1 << 6)  # BPF_F_XDP_DEV_BOUND_ONLY
                p.ifindex = o.xdpmeta_ifindex
            else:
                p.ifindex = o.offload_ifindex
        if o.offload_ifindex:
            for m in spec.maps.values():
                if int(m.type) != int(pybpf.MapType.PERF_EVENT_ARRAY):
                    m.ifindex = o.offload_ifindex
        reuse = _reuse_maps(o, spec)
        kw: dict[str, Any] = {"log": _log_fn(ctx), "log_level": 7 if ctx.debug else 0, "reuse_maps": reuse}
        if o.kernel_btf:
            kw["btf_targets"] = _btf_targets(o.kernel_btf)
        try:
            obj = spec.load(**kw)
        except VerifierError as e:
            sys.stderr.write(f"pybpf: prog '{e.program}': -- BEGIN PROG LOAD LOG --\n{e.log}"
                             "-- END PROG LOAD LOG --\n")
            raise CLIError(f"failed to load object file: {e}") from None
        except (Error, OSError) as e:
            raise CLIError(f"failed to load object file: {e}") from None
        with obj:
            if ctx.debug:
                for name, loaded in obj.programs.items():
                    sys.stderr.write(f"pybpf: prog '{name}': -- BEGIN PROG LOAD LOG --\n{loaded.verifier_log}"
                                     "-- END PROG LOAD LOG --\n")
            _pin(ctx, o, spec, obj, first_only, pinned)
    except BaseException:
        for path in reversed(pinned):
            try:
                os.unlink(path)
            except OSError:
                pass
        raise
    finally:
        o.close()
    if ctx.json:
        print("null")
    return 0


def _pin(ctx: Context, o: LoadOptions, spec: Any, obj: Any, first_only: bool, pinned: list[str]) -> None:
    if first_only:
        _mount_for_file(ctx, o.path)
        if not spec.programs:
            raise CLIError("object file doesn't contain any bpf program")
        first = next(iter(spec.programs.values()))
        prog = obj.programs.get(first.name)
        try:
            if prog is None:
                raise Error("not loaded")
            _pin_one(ctx, prog, o.path, o.autoattach)
        except (Error, OSError):
            raise CLIError(f"failed to pin program {first.section}") from None
        pinned.append(o.path)
    else:
        _mount_dir(ctx, o.path)
        for name, prog in obj.programs.items():
            path = os.path.join(o.path, name)
            try:
                _pin_one(ctx, prog, path, o.autoattach)
            except (Error, OSError):
                raise CLIError("failed to pin all programs") from None
            pinned.append(path)
    if o.pinmaps:
        _mount_dir(ctx, o.pinmaps)
        for m in obj.maps.values():
            path = os.path.join(o.pinmaps, m.name)
            try:
                m.pin(path)
            except (Error, OSError):
                raise CLIError("failed to pin all maps") from None
            pinned.append(path)


def do_load(ctx: Context, args: Args) -> int:
    return load(ctx, args, True)


def do_loadall(ctx: Context, args: Args) -> int:
    return load(ctx, args, False)


# ------------------------------------------------------------------- attach/detach
_ATTACH_TYPES = (AttachType.SK_SKB_STREAM_PARSER, AttachType.SK_SKB_STREAM_VERDICT, AttachType.SK_MSG_VERDICT,
                 AttachType.FLOW_DISSECTOR, AttachType.SK_SKB_VERDICT)
_LEGACY = {AttachType.SK_SKB_STREAM_PARSER: "stream_parser", AttachType.SK_SKB_STREAM_VERDICT: "stream_verdict",
           AttachType.SK_SKB_VERDICT: "skb_verdict", AttachType.SK_MSG_VERDICT: "msg_verdict"}


def parse_attach_type(word: str) -> AttachType | None:
    """bpftool prog's parse_attach_type(): libbpf names of the sockmap/flow dissector types, or a
    prefix of their traditional names."""
    for at in sorted(set(_ATTACH_TYPES) | set(_LEGACY)):
        if at in _ATTACH_TYPES and word == at.name.lower():
            return at
        if at in _LEGACY and is_prefix(word, _LEGACY[at]):
            return at
    return None


def _attach_args(args: Args) -> tuple[FD, AttachType, "FD | None"]:
    if len(args) < 3:
        raise CLIError(f"'{args.verb}' needs at least 3 arguments, {len(args)} found", EINVAL_EXIT)
    fd = prog_fd(args)
    try:
        at = parse_attach_type(args.peek())
        if at is None:
            raise CLIError("invalid attach/detach type", EINVAL_EXIT)
        if at == AttachType.FLOW_DISSECTOR:
            return fd, at, None
        args.next()
        if len(args) < 2:
            raise CLIError(f"'{args.words[args.i - 1]}' needs at least 2 arguments, {len(args)} found", EINVAL_EXIT)
        return fd, at, map_fd(args)
    except BaseException:
        fd.close()
        raise


def do_attach(ctx: Context, args: Args) -> int:
    fd, at, mfd = _attach_args(args)
    with fd:
        try:
            cmds.prog_attach(fd.fd, mfd.fd if mfd is not None else 0, at, 0)
        except BPFError:
            raise CLIError("failed prog attach to map", EINVAL_EXIT) from None
        finally:
            if mfd is not None:
                mfd.close()
    if ctx.json:
        print("null")
    return 0


def do_detach(ctx: Context, args: Args) -> int:
    fd, at, mfd = _attach_args(args)
    with fd:
        try:
            cmds.prog_detach(mfd.fd if mfd is not None else 0, at, fd.fd)
        except BPFError:
            raise CLIError("failed prog detach from map", EINVAL_EXIT) from None
        finally:
            if mfd is not None:
                mfd.close()
    if ctx.json:
        print("null")
    return 0


def do_verify(ctx: Context, args: Args) -> int:
    from .prog_verify import verify

    return verify(ctx, args)


__all__ = ["do_load", "do_loadall", "do_attach", "do_detach", "do_verify", "parse_load", "parse_attach_type"]
