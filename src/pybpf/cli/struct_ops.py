"""``pybpf struct_ops``: show/list, dump, register, unregister (bpftool's grammar and output).

``register OBJ [LINK_DIR]`` loads the object and registers every struct_ops map in it
(``.struct_ops`` maps stay registered after the command exits, as with bpftool 7.1;
``.struct_ops.link`` maps are registered through a bpf_link that is pinned as
``LINK_DIR/<map name>`` when LINK_DIR is given, else released when the command ends).
"""

from __future__ import annotations

import ctypes
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

from .._sys import cmds
from .._sys.consts import MapType
from .._sys.info import MapInfo
from ..errors import BPFError
from ._common import Args, CLIError, Context, is_prefix, select, strerror, strtoul

HELP = """Usage: pybpf struct_ops { show | list } [STRUCT_OPS_MAP]
       pybpf struct_ops dump [STRUCT_OPS_MAP]
       pybpf struct_ops register OBJ [LINK_DIR]
       pybpf struct_ops unregister STRUCT_OPS_MAP
       pybpf struct_ops help

       STRUCT_OPS_MAP := [ id STRUCT_OPS_MAP_ID | name STRUCT_OPS_MAP_NAME ]
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} }
"""

_PREFIX = "bpf_struct_ops_"
if TYPE_CHECKING:  # pragma: no cover
    Work = Callable[[int, Any, Any], "Any"]


class _Kernel:
    """The vmlinux BTF, loaded on first use (bpftool's get_btf_vmlinux())."""

    btf: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls.btf is None:
            from ..btf import BTF

            try:
                cls.btf = BTF.load_vmlinux()
            except Exception:  # noqa: BLE001
                raise CLIError("struct_ops requires kernel CONFIG_DEBUG_INFO_BTF=y") from None
        return cls.btf


def _name(info: Any) -> str:
    return bytes(info.name).rstrip(b"\0").decode(errors="replace")


def kern_struct_ops_name(info: Any) -> str:
    try:
        name = str(_Kernel.get()[int(info.btf_vmlinux_value_type_id)].name)
    except CLIError:
        return "<btf_vmlinux_not_found>"
    return name[len(_PREFIX):] if name.startswith(_PREFIX) else name


def _maps(name: "str | None") -> list[tuple[Any, Any]]:
    """(fd, info) of every struct_ops map (named ``name`` if given)."""
    out = []
    for mid in cmds.iter_ids("map"):
        try:
            fd = cmds.fd_by_id("map", mid)
        except BPFError as e:
            if e.errno == 2:
                continue
            raise CLIError(f"can't get map by id ({mid}): {strerror(e)}") from None
        info = cmds.map_info(fd.fd)
        if info.type == MapType.STRUCT_OPS and (name is None or _name(info) == name):
            out.append((fd, info))
        else:
            fd.close()
    return out


def _select(args: Args) -> tuple[list[tuple[Any, Any]], "str | None"]:
    if not args:
        return _maps(None), None
    if len(args) != 2:
        sys.stderr.write(HELP)
        raise CLIError("expected 'id' or 'name' and a value")
    what, term = args.next(), args.next()
    if is_prefix(what, "id"):
        try:
            mid = strtoul(term, "ID")
        except CLIError:
            mid = 0
        if not mid or mid > 0xFFFFFFFF:
            raise CLIError(f"invalid id {term}")
        try:
            fd = cmds.fd_by_id("map", mid)
        except BPFError as e:
            raise CLIError(f"can't get map by id ({mid}): {strerror(e)}") from None
        info = cmds.map_info(fd.fd)
        if info.type != MapType.STRUCT_OPS:
            fd.close()
            raise CLIError(f"{_name(info)} id {info.id} is not a struct_ops map")
        return [(fd, info)], term
    if not is_prefix(what, "name"):
        sys.stderr.write(HELP)
        raise CLIError(f"expected 'id' or 'name', got: '{what}'?")
    found = _maps(term)
    if not found:
        raise CLIError(f"no struct_ops found for {term}")
    return found, term


def do_show(ctx: Context, args: Args) -> int:
    found, _ = _select(args)
    try:
        if ctx.json:
            ctx.emit_json([{"id": int(i.id), "name": _name(i), "kernel_struct_ops": kern_struct_ops_name(i)}
                           for _, i in found])
        else:
            sys.stdout.write("".join(f"{i.id}: {_name(i):<15} {kern_struct_ops_name(i):<32}\n" for _, i in found))
    finally:
        for fd, _ in found:
            fd.close()
    return 0


def _type_only(btf: Any, tid: int) -> str:
    """bpftool's __btf_dumper_type_only(): a C-ish spelling with trailing spaces."""
    from ..btf.types import Kind

    if not tid:
        return "void "
    t = btf[tid]
    k = t.kind
    if k in (Kind.INT, Kind.TYPEDEF, Kind.FLOAT):
        return f"{t.name} "
    if k in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
        return f"{'enum' if k in (Kind.ENUM, Kind.ENUM64) else k.name.lower()} {t.name} "
    if k == Kind.ARRAY:
        return _type_only(btf, t.type_id or 0) + f"[{t.nelems}]"
    if k == Kind.PTR:
        return _type_only(btf, t.type_id or 0) + "* "
    if k == Kind.FWD:
        return f"{'union' if t.is_union else 'struct'} {t.name} "
    if k in (Kind.VOLATILE, Kind.CONST, Kind.RESTRICT):
        return f"{k.name.lower()} " + _type_only(btf, t.type_id or 0)
    if k == Kind.FUNC_PROTO:
        return _func_sig(btf, t)
    raise ValueError(f"no spelling for {k.name}")


def _func_sig(btf: Any, proto: Any) -> str:
    """bpftool's btf_dump_func() for an unnamed function prototype."""
    s = _type_only(btf, proto.return_type_id or 0) + "("
    for i, p in enumerate(proto.params):
        if i:
            s += ", "
        if p.type_id:
            s += _type_only(btf, p.type_id)
            if p.name:
                s += p.name
            elif s.endswith(" "):
                s = s[:-1]
        else:
            s += "..."
    return s + ")"


def _prog_label(prog_id: int) -> str:
    if not prog_id:
        return " 0"
    try:
        from ._objects import prog_full_name

        with cmds.fd_by_id("prog", prog_id) as fd:
            info = cmds.prog_info(fd.fd)
            if info.btf_id and info.nr_func_info:
                return f" {prog_full_name(info, fd.fd)}/prog_id:{prog_id}"
    except BPFError:
        pass
    return f" <unknown_prog_name>/prog_id:{prog_id}"


def _func_ptrs(btf: Any, t: Any, obj: Any, raw: bytes, off: int) -> None:
    """Replace function pointer members (program ids in a struct_ops value) by bpftool's
    ``"<signature> <prog name>/prog_id:<id>"`` strings (its prog_id_as_func_ptr mode)."""
    from ..btf.types import MODIFIER_KINDS, Kind

    pairs = getattr(obj, "pairs", None)
    if pairs is None:
        return
    for i, (m, (key, val)) in enumerate(zip(t.members, pairs)):
        mt = btf[m.type_id or 0] if m.type_id else None
        while mt is not None and mt.kind in MODIFIER_KINDS:
            mt = btf[mt.type_id or 0] if mt.type_id else None
        if mt is None:
            continue
        moff = off + m.bit_offset // 8
        if mt.kind in (Kind.STRUCT, Kind.UNION):
            _func_ptrs(btf, mt, val, raw, moff)
        elif mt.kind == Kind.PTR and mt.type_id:
            target = btf[mt.type_id]
            while target.kind in MODIFIER_KINDS and target.type_id:
                target = btf[target.type_id]
            value = int.from_bytes(raw[moff:moff + 8], "little")
            if target.kind == Kind.FUNC_PROTO and value <= 0xFFFFFFFF:
                try:
                    text = _func_sig(btf, target) + _prog_label(value)
                except ValueError:
                    continue
                pairs[i] = (key, text)
                obj[key] = text


def do_dump(ctx: Context, args: Args) -> int:
    from ..btf.values import format_value  # type: ignore[attr-defined]
    from ..btf.values_format import BpftoolObject, dumps_bpftool

    by_id = len(args) == 2 and is_prefix(args.peek(), "id")
    found, _ = _select(args)
    kbtf = _Kernel.get()
    plain = not ctx.json
    objs: list[Any] = []
    try:
        mi = kbtf.find("bpf_map_info", "struct")
        for fd, info in found:
            raw = bytes(info) + bytes(max(0, kbtf.sizeof(mi) - ctypes.sizeof(MapInfo)))
            st = kbtf[int(info.btf_vmlinux_value_type_id)]
            value = cmds_lookup(fd.fd, info)
            shown = format_value(kbtf, st, value, plain_text=plain)
            _func_ptrs(kbtf, st, shown, value, 0)
            objs.append(BpftoolObject([("bpf_map_info", format_value(kbtf, mi, raw, plain_text=plain))]))
            objs.append(BpftoolObject([(st.name, shown)]))
    finally:
        for fd, _ in found:
            fd.close()
    pretty = ctx.pretty or plain
    if by_id:  # bpftool writes one map's two objects without the enclosing array
        sys.stdout.write(",".join(dumps_bpftool(o, pretty=pretty) for o in objs) + "\n")
    else:
        sys.stdout.write(dumps_bpftool(objs, pretty=pretty) + "\n")
    return 0


def cmds_lookup(fd: int, info: Any) -> bytes:
    from ..map import Map

    try:
        with Map.from_fd(fd) as m:
            raw = m._ops.lookup((0).to_bytes(4, "little"))  # noqa: SLF001 - raw bytes, no codecs
    except BPFError:
        raw = None
    if raw is None:
        raise CLIError(f"can't lookup struct_ops map {_name(info)} id {info.id}")
    return bytes(raw)


def do_unregister(ctx: Context, args: Args) -> int:
    if len(args) != 2:
        sys.stderr.write(HELP)
        raise CLIError("expected 'id' or 'name' and a value")
    found, _ = _select(args)
    try:
        for fd, info in found:
            try:
                cmds_delete(fd.fd)
            except BPFError as e:
                raise CLIError(f"can't unload {_name(info)} {kern_struct_ops_name(info)} id {info.id}: "
                               f"{strerror(e)}") from None
            if not ctx.json:
                sys.stderr.write(f"Unregistered {kern_struct_ops_name(info)} {_name(info)} id {info.id}\n")
    finally:
        for fd, _ in found:
            fd.close()
    if ctx.json:
        print("null")
    return 0


def cmds_delete(fd: int) -> None:
    from ..map import Map

    with Map.from_fd(fd) as m:
        m._ops.delete((0).to_bytes(4, "little"))  # noqa: SLF001


def _p_err(ctx: Context, msg: str) -> None:
    """bpftool's p_err() for an error that does not stop the command."""
    from . import _print_error

    _print_error(ctx, msg)


def _p_info(ctx: Context, msg: str) -> None:
    if not ctx.json:
        sys.stderr.write(msg + "\n")


def do_register(ctx: Context, args: Args) -> int:
    """bpftool's do_register(): load OBJ, register each struct_ops map, pin link maps' links."""
    import os

    import pybpf

    from ..errors import Error, VerifierError
    from .prog_load import _mount_dir

    if len(args) not in (1, 2):
        sys.stderr.write(HELP)
        raise CLIError("expected OBJ and an optional LINK_DIR")
    file = args.next()
    linkdir = args.next() if args else None
    if linkdir:
        try:
            _mount_dir(ctx, linkdir)
        except CLIError:
            raise CLIError("can't mount bpffs for pinning") from None
    log = (lambda m: sys.stderr.write(f"pybpf: {m}\n")) if ctx.debug else None
    try:
        obj = pybpf.open(file, log=log).load(log=log, log_level=7 if ctx.debug else 0)
    except VerifierError as e:
        sys.stderr.write(f"pybpf: prog '{e.program}': -- BEGIN PROG LOAD LOG --\n{e.log}-- END PROG LOAD LOG --\n")
        raise CLIError(f"failed to load object file: {e}") from None
    except (Error, OSError) as e:
        raise CLIError(f"failed to load object file: {e}") from None
    nr_errs = nr_maps = 0
    with obj:
        for name, m in obj.maps.items():
            if m.type != MapType.STRUCT_OPS:
                continue
            try:
                link = m.attach_struct_ops()
            except (Error, OSError) as e:
                _p_err(ctx, f"can't register struct_ops {name}: {strerror(e)}")
                nr_errs += 1
                continue
            nr_maps += 1
            try:
                info = cmds.map_info(m.fd)
                if not link.is_bpf_link:
                    _p_info(ctx, f"Registered {kern_struct_ops_name(info)} {name} id {info.id}")
                    continue
                lid = link.id
                if linkdir:
                    try:
                        os.makedirs(linkdir, 0o700, exist_ok=True)
                        link.pin(os.path.join(linkdir, _name(info)))
                    except (Error, OSError) as e:
                        _p_err(ctx, f"can't pin link {lid} for {_name(info)}: {strerror(e)}")
                        nr_errs += 1
                        continue
                _p_info(ctx, f"Registered {kern_struct_ops_name(info)} {_name(info)} map id {info.id} link id {lid}")
            finally:
                link.disconnect()  # a plain struct_ops stays registered; a link lives on only if pinned
                link.close()
    if nr_errs:
        return 255
    if not nr_maps:
        raise CLIError(f"no struct_ops found in {file}")
    if ctx.json:
        print("null")
    return 0


VERBS = [("show", do_show), ("list", do_show), ("register", do_register), ("unregister", do_unregister),
         ("dump", do_dump), ("help", do_show)]


def run(ctx: Context, words: list[str]) -> int:
    return select(ctx, "struct_ops", VERBS, words, HELP)
