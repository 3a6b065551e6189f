"""``pybpf map dump MAP``: every element, as bpftool prints it (hex, or BTF-typed).

Hash and array maps are read with BPF_MAP_LOOKUP_BATCH (one syscall per
chunk instead of two per element) and formatted by slicing one big hex string
per chunk; other maps are walked key by key like bpftool, with its per-entry
error lines (``value: <no entry>``). Maps with BTF print typed values when
:mod:`pybpf.btf.values` has ``format_entry`` (bpftool's btf_dumper format).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterator

from .._sys import cmds
from .._sys.consts import MapType
from .._sys.cpu import num_possible_cpus
from .._sys.mapops import BatchUnsupported, batch_walk
from .._sys.info import MapInfo
from ..errors import BPFError
from ._common import Args, CLIError, Context, type_json
from ._json import dumps, quote
from ._objects import BPF_F_RDONLY, map_fds

PERCPU = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH,
                    MapType.PERCPU_CGROUP_STORAGE})
OF_MAPS = frozenset({MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS})
_BATCH = frozenset({MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_HASH,
                    MapType.LRU_PERCPU_HASH})


class Entries:
    """One map's elements: (key bytes, value bytes) in bpftool's order, or per-key errors."""

    def __init__(self, fd: int, info: MapInfo) -> None:
        self.fd, self.info = fd, info
        self.ks, self.vs = int(info.key_size), int(info.value_size)
        self.percpu = info.type in PERCPU
        self.ncpus = num_possible_cpus() if self.percpu else 1
        self.stride = (self.vs + 7) // 8 * 8 if self.percpu else self.vs

    def chunks(self) -> Iterator[tuple[bytes, bytes, int]]:
        """(keys, values, count) chunks; raises BatchUnsupported when the batch path is not usable."""
        return _batch(self.fd, self.ks, self.stride * self.ncpus, int(self.info.max_entries))

    def walk(self) -> Iterator[tuple[bytes, "bytes | int"]]:
        """bpftool's GET_NEXT_KEY + LOOKUP walk: (key, value) or (key, errno)."""
        from .._sys.mapops import MapOps

        ops = MapOps(self.fd, self.ks, self.stride * self.ncpus)
        key = None
        limit = max(int(self.info.max_entries), 1) * 4 + 16
        while limit:
            limit -= 1
            try:
                nxt = ops.next_key(key)
            except BPFError:
                return
            if nxt is None:
                return
            try:
                v = ops.lookup(nxt)
                yield nxt, (v if v is not None else 2)
            except BPFError as e:
                yield nxt, int(e.errno or 0)
            key = nxt


def _batch(fd: int, ks: int, vs: int, max_entries: int) -> Iterator[tuple[bytes, bytes, int]]:
    return batch_walk(fd, ks, vs, max(64, min(max_entries or 1, 1 << 16)))


# ------------------------------------------------------------------------ formatting
def fhex(b: bytes) -> str:
    """bpftool's fprint_hex(..., " "): two spaces after every 8th byte, a newline after every 16th."""
    if len(b) <= 8:
        return b.hex(" ")
    rows = []
    for i in range(0, len(b), 16):
        row = b[i:i + 16]
        rows.append(row[:8].hex(" ") + ("  " + row[8:].hex(" ") if len(row) > 8 else ""))
    return "\n".join(rows)


def _hexcols(raw: bytes, size: int, n: int, sep: str) -> list[str]:
    """Each ``size``-byte record of ``raw`` as bpftool's fprint_hex() (bytes separated by ``sep``)."""
    if not size:
        return [""] * n
    if size > 8:
        return [fhex(raw[i:i + size]) for i in range(0, size * n, size)]
    h = raw.hex(" ")
    w = 3 * size
    if sep == " ":
        return [h[i:i + w - 1] for i in range(0, w * n, w)]
    return [h[i:i + w - 1].replace(" ", sep) for i in range(0, w * n, w)]


def _jsoncols(raw: bytes, size: int, n: int) -> list[str]:
    """Each record as bpftool's print_hex_data_json() array text: ``["0x00","0x01"]``."""
    if not size:
        return ["[]"] * n
    s = raw.hex(",").replace(",", '","0x')
    w = 7 * size
    return ['["0x' + s[i:i + w - 5] + '"]' for i in range(0, w * n, w)]


def plain_lines(e: Entries, keys: bytes, vals: bytes, n: int) -> str:
    ks, vs, info = e.ks, e.vs, e.info
    kh = _hexcols(keys, ks, n, " ")
    if e.percpu:
        s, nc = e.stride, e.ncpus
        out = []
        sep = "\n" if vs > 16 else " "
        for j in range(n):
            parts = [f"key:\n{kh[j]}\n"] if ks else []
            v = vals[j * s * nc:(j + 1) * s * nc]
            for c in range(nc):
                parts.append(f"value (CPU {c:02d}):{sep}{fhex(v[c * s:c * s + vs])}\n")
            out.append("".join(parts))
        return "".join(out)
    brk = ks > 16 or vs > 16
    single = ks + vs <= 24 and not brk
    s1 = "\n" if brk else " "
    s2 = "  " if single else "\n"
    if info.type in OF_MAPS and vs:
        ids = [int.from_bytes(vals[j * vs:j * vs + 4], "little") for j in range(n)]
        pre = f"key:{s1}" if ks else ""
        return "".join(f"{pre}{kh[j]}{s2 if ks else ''}inner_map_id:{s1}{ids[j]} \n" for j in range(n))
    vh = _hexcols(vals, vs, n, " ")
    if ks and vs:
        a, b = f"key:{s1}", f"{s2}value:{s1}"
        return "".join([a + k + b + v + "\n" for k, v in zip(kh, vh)])
    if ks:
        return "".join(f"key:{s1}{k}{s2}\n" for k in kh)
    return "".join(f"value:{s1}{v}\n" for v in vh)


def json_entries(e: Entries, keys: bytes, vals: bytes, n: int) -> list[str]:
    """Each element of a plain (not per-CPU, not map-in-map, no BTF) map as compact bpftool JSON."""
    kj = _jsoncols(keys, e.ks, n)
    vj = _jsoncols(vals, e.vs, n)
    return ['{"key":' + k + ',"value":' + v + "}" for k, v in zip(kj, vj)]


def error_entry(e: Entries, key: bytes, err: int, as_json: bool) -> str:
    import os

    if (e.info.type in OF_MAPS or e.info.type == MapType.PROG_ARRAY) and err == 2:
        return ""
    if as_json:
        return '{"key":' + _jsoncols(key, e.ks, 1)[0] + ',"value":{"error":' + quote(os.strerror(err)) + "}}"
    msg = "<no entry>" if err == 2 else ("<cannot read>" if err == 28 and e.info.type ==
                                          MapType.REUSEPORT_SOCKARRAY else os.strerror(err))
    brk = e.ks > 16 or len(msg) > 16
    single = e.ks + len(msg) <= 24 and not brk
    sep = "\n" if brk else " "
    return f"key:{sep}{fhex(key)}{'  ' if single else chr(10)}value:{sep}{msg}\n"


# ---------------------------------------------------------------------------- verb
def do_dump(ctx: Context, args: Args) -> int:
    if len(args) != 2:
        raise CLIError("'dump' needs a map: id ID | pinned FILE | name NAME")
    fds = map_fds(args, BPF_F_RDONLY)
    if not fds:
        raise CLIError("no map matches this handle")
    try:
        infos = [cmds.map_info(fd.fd) for fd in fds]
        many = len(fds) > 1
        btf_all = all(i.btf_id for i in infos)
        out = sys.stdout
        if ctx.json:
            if not many:
                out.write(_dump_json(ctx, fds[0].fd, infos[0]) + "\n")
                return 0
            objs = []
            for fd, info in zip(fds, infos):
                h = _header_obj(info)
                h["elements"] = _json_objs(ctx, fd.fd, info)
                objs.append(h)
            ctx.emit_json(objs)
            return 0
        for n, (fd, info) in enumerate(zip(fds, infos)):
            if btf_all and _formatter(info) is not None:
                _dump_btf_plain(ctx, fd.fd, info, many)
            else:
                if many:
                    from .map import _name

                    name = _name(info)
                    from .._sys.consts import MapType as MT
                    from ._common import type_str

                    out.write(f"{info.id}: {type_str(MT, info.type)}  " + (f"name {name}  " if name else "")
                              + f"flags 0x{info.map_flags:x}\n")
                _dump_plain(fd.fd, info)
            if many and n != len(fds) - 1:
                out.write("\n")
    finally:
        for fd in fds:
            fd.close()
    return 0


def _dump_plain(fd: int, info: MapInfo) -> None:
    e = Entries(fd, info)
    out = sys.stdout
    count = 0
    if info.type in _BATCH:
        try:
            for keys, vals, n in e.chunks():
                out.write(plain_lines(e, keys, vals, n))
                count += n
            out.write(f"Found {count} element{'s' if count != 1 else ''}\n")
            return
        except BatchUnsupported:
            pass
    if info.type == MapType.REUSEPORT_SOCKARRAY and e.vs != 8:
        print("Warning: cannot read values from reuseport_sockarray map with value_size != 8", file=sys.stderr)
    for key, v in e.walk():
        if isinstance(v, int):
            out.write(error_entry(e, key, v, False))
        else:
            out.write(plain_lines(e, key, v, 1))
            count += 1
    out.write(f"Found {count} element{'s' if count != 1 else ''}\n")


def _elements(e: Entries) -> Iterator[tuple[bytes, "bytes | int"]]:
    if e.info.type in _BATCH:
        try:
            stride = e.stride * e.ncpus
            for keys, vals, n in e.chunks():
                for j in range(n):
                    yield keys[j * e.ks:(j + 1) * e.ks], vals[j * stride:(j + 1) * stride]
            return
        except BatchUnsupported:
            pass
    yield from e.walk()


def _dump_json(ctx: Context, fd: int, info: MapInfo) -> str:
    e = Entries(fd, info)
    if info.type in _BATCH and not ctx.pretty and not e.percpu and _formatter(info) is None:
        try:
            pieces: list[str] = []
            for keys, vals, n in e.chunks():
                pieces.extend(json_entries(e, keys, vals, n))
            return "[" + ",".join(pieces) + "]"
        except BatchUnsupported:
            pass
    return dumps(_json_objs(ctx, fd, info), ctx.pretty)


def _json_objs(ctx: Context, fd: int, info: MapInfo) -> list[Any]:
    e = Entries(fd, info)
    fmt = _formatter(info)
    objs: list[Any] = []
    for key, v in _elements(e):
        if isinstance(v, int):
            if error_entry(e, key, v, True):
                objs.append(_errobj(e, key, v))
            continue
        objs.append(_entry_obj(e, key, v, fmt))
    return objs


def _errobj(e: Entries, key: bytes, err: int) -> dict[str, Any]:
    import os

    return {"key": [f"0x{b:02x}" for b in key], "value": {"error": os.strerror(err)}}


def _entry_obj(e: Entries, key: bytes, v: bytes, fmt: Any) -> dict[str, Any]:
    o: dict[str, Any] = {"key": [f"0x{b:02x}" for b in key]}
    if e.percpu:
        s = e.stride
        o["values"] = [{"cpu": c, "value": [f"0x{b:02x}" for b in v[c * s:c * s + e.vs]]} for c in range(e.ncpus)]
    else:
        o["value"] = [f"0x{b:02x}" for b in v[:e.vs]]
        if e.info.type in OF_MAPS:
            o["inner_map_id"] = int.from_bytes(v[:4], "little")
    if fmt is not None:
        o["formatted"] = fmt(key, v, False)
    return o


def _header_obj(info: MapInfo) -> dict[str, Any]:
    from .map import _name

    h: dict[str, Any] = {"id": int(info.id), "type": type_json(MapType, info.type)}
    if _name(info):
        h["name"] = _name(info)
    h["flags"] = int(info.map_flags)
    return h


# ----------------------------------------------------------------------------- BTF
def _formatter(info: MapInfo) -> Any:
    """fmt(key, value, plain) -> bpftool's typed element, or None without BTF / formatter."""
    if not info.btf_id or not (info.btf_value_type_id or info.btf_vmlinux_value_type_id):
        return None
    try:
        from ..btf.values import format_entry  # type: ignore[attr-defined]
    except ImportError:
        return None
    from ..btf import BTF

    try:
        if info.btf_vmlinux_value_type_id:
            btf = BTF.load_vmlinux()
            vt = int(info.btf_vmlinux_value_type_id)
        else:
            with cmds.fd_by_id("btf", int(info.btf_id)) as bfd:
                btf = BTF.from_bytes(cmds.btf_data(bfd.fd))
            vt = int(info.btf_value_type_id)
    except (BPFError, OSError):
        return None
    kt = int(info.btf_key_type_id) or None
    percpu = info.type in PERCPU
    ncpu = num_possible_cpus() if percpu else 1
    vs = int(info.value_size)
    stride = (vs + 7) // 8 * 8

    def fmt(key: bytes, value: bytes, plain: bool) -> Any:
        if percpu:
            vals = [value[c * stride:c * stride + vs] for c in range(ncpu)]
            return format_entry(btf, kt, vt, key, percpu_values=vals, plain_text=plain)
        return format_entry(btf, kt, vt, key, value, plain_text=plain)

    return fmt


def _dump_btf_plain(ctx: Context, fd: int, info: MapInfo, header: bool) -> None:
    """bpftool prints BTF maps through a pretty JSON writer (plain-text quirks on)."""
    from ..btf.values import dumps_bpftool  # type: ignore[attr-defined]

    e = Entries(fd, info)
    fmt = _formatter(info)
    objs = []
    errors = []
    for key, v in _elements(e):
        if isinstance(v, int):
            errors.append(error_entry(e, key, v, False))
            continue
        objs.append(fmt(key, v, True))
    if header:
        from ..btf.values import BpftoolObject  # type: ignore[attr-defined]

        from .map import _name

        pairs: list[tuple[str, Any]] = [("id", int(info.id)), ("type", type_json(MapType, info.type))]
        if _name(info):
            pairs.append(("name", _name(info)))
        pairs += [("flags", int(info.map_flags)), ("elements", objs)]
        sys.stdout.write("".join(errors) + dumps_bpftool(BpftoolObject(pairs)) + "\n")
        return
    sys.stdout.write("".join(errors) + dumps_bpftool(objs) + "\n")
