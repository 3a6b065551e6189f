"""``pybpf map lookup|update|getnext|delete|peek|push|pop|enqueue|dequeue|event_pipe``.

Keys and values are bytes as bpftool parses them: ``key 0x01 0 0 0`` (C
``strtoul`` base 0: hex, octal, decimal), ``key hex 01 00 00 00``; a map-in-map
value is a MAP handle, a program array value a PROG handle.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .._sys import cmds
from .._sys.consts import MapType
from .._sys.info import MapInfo
from .._sys.mapops import MapOps
from .._sys.syscall import FD
from ..errors import BPFError
from ._common import Args, CLIError, Context, is_prefix, strerror
from ._objects import BPF_F_RDONLY, map_fd, prog_fd
from .map_dump import OF_MAPS, PERCPU, Entries, _formatter, fhex, plain_lines

_FLAGS = {"any": 0, "noexist": 1, "exist": 2}


def _strtoul_byte(word: str, base: int) -> int:
    try:
        if base == 16:
            return int(word, 16) & 0xFF
        t = word
        if t[:2].lower() == "0x":
            return int(t[2:], 16) & 0xFF
        if len(t) > 1 and t[0] == "0":
            return int(t[1:], 8) & 0xFF
        return int(t, 10) & 0xFF
    except ValueError:
        raise CLIError(f"error parsing byte: {word}") from None


def parse_bytes(args: Args, name: str, n: int) -> bytes:
    """bpftool's parse_bytes(): ``[hex] B0 B1 ...`` — exactly ``n`` bytes."""
    base = 0
    if args.at("hex"):
        args.next()
        base = 16
    out = bytearray()
    while len(out) < n and args:
        out.append(_strtoul_byte(args.next(), base))
    if len(out) != n:
        raise CLIError(f"{name} expected {n} bytes got {len(out)}")
    return bytes(out)


class Elem:
    """The parsed ``[key DATA] [value VALUE] [any|exist|noexist]`` of one command."""

    def __init__(self) -> None:
        self.key: bytes | None = None
        self.value: bytes | None = None
        self.flags = 0
        self.value_fd: FD | None = None


def parse_elem(args: Args, info: MapInfo, want_key: bool, want_value: bool, want_flags: bool) -> Elem:
    """bpftool's parse_elem(): words in any order, each at most once."""
    e = Elem()
    ks, vs = int(info.key_size), int(info.value_size)
    need_key, need_value = want_key and ks > 0, want_value and vs > 0
    flags_left = want_flags
    try:
        while True:
            if not args:
                if need_key or need_value:
                    raise CLIError(f"did not find {'key' if need_key else 'value'}")
                return e
            w = args.next()
            if is_prefix(w, "key"):
                if not need_key:
                    raise CLIError("duplicate key" if ks and want_key else "unnecessary key")
                e.key = parse_bytes(args, "key", ks)
                need_key = False
            elif is_prefix(w, "value"):
                if not need_value:
                    raise CLIError("duplicate value" if vs and want_value else "unnecessary value")
                e.value = _parse_value(args, info, e)
                need_value = False
            elif is_prefix(w, "any") or is_prefix(w, "noexist") or is_prefix(w, "exist"):
                if not flags_left:
                    raise CLIError(f"flags specified multiple times: {w}")
                e.flags = next(v for k, v in _FLAGS.items() if is_prefix(w, k))
                flags_left = False
            else:
                raise CLIError(f"expected key or value, got: {w}")
    except BaseException:
        if e.value_fd is not None:
            e.value_fd.close()
        raise


def _parse_value(args: Args, info: MapInfo, e: Elem) -> bytes:
    vs = int(info.value_size)
    if info.type in OF_MAPS or info.type == MapType.PROG_ARRAY:
        what = "map in map" if info.type in OF_MAPS else "map of progs"
        if vs != 4:
            raise CLIError(f"value smaller than 4B for {what}?")
        if len(args) < 2:
            raise CLIError(f"not enough value arguments for {what}")
        if info.type == MapType.PROG_ARRAY and args.at("id"):
            print("Warning: updating program array via MAP_ID, make sure this map is kept open\n"
                  "         by some process or pinned otherwise update will be lost", file=sys.stderr)
        sub = Args(args.words[args.i:args.i + 2], "value")
        e.value_fd = map_fd(sub) if info.type in OF_MAPS else prog_fd(sub)
        args.i += 2
        return e.value_fd.fd.to_bytes(4, "little")
    v = parse_bytes(args, "value", vs)
    if info.type in PERCPU:
        from .._sys.cpu import num_possible_cpus

        stride = (vs + 7) // 8 * 8
        v = (v + bytes(stride - vs)) * num_possible_cpus()
    return v


def _open(args: Args, flags: int = 0) -> tuple[FD, MapInfo]:
    if len(args) < 2:
        raise CLIError(f"'{args.verb}' needs a map: id ID | pinned FILE | name NAME")
    fd = map_fd(args, flags)
    try:
        return fd, cmds.map_info(fd.fd)
    except BPFError as e:
        fd.close()
        raise CLIError(f"can't get map info: {strerror(e)}") from None


def _ops(fd: FD, info: MapInfo) -> MapOps:
    e = Entries(fd.fd, info)
    return MapOps(fd.fd, e.ks, e.stride * e.ncpus)


def print_key_value(ctx: Context, fd: FD, info: MapInfo, key: bytes, value: bytes) -> None:
    """bpftool's print_key_value(): JSON entry, BTF-typed plain entry, or hex."""
    e = Entries(fd.fd, info)
    fmt = _formatter(info)
    if ctx.json:
        from .map_dump import _entry_obj

        ctx.emit_json(_entry_obj(e, key, value, fmt))
    elif fmt is not None:
        from ..btf.values import dumps_bpftool  # type: ignore[attr-defined]

        sys.stdout.write(dumps_bpftool(fmt(key, value, True)) + "\n")
    else:
        sys.stdout.write(plain_lines(e, key, value, 1))


def do_lookup(ctx: Context, args: Args) -> int:
    fd, info = _open(args, BPF_F_RDONLY)
    with fd:
        el = parse_elem(args, info, True, False, False)
        ops = _ops(fd, info)
        key = el.key if info.key_size else None
        try:
            v = ops.lookup(key)
        except BPFError as e:
            raise CLIError(f"lookup failed: {strerror(e)}") from None
        if v is None:
            if ctx.json:
                print("null")
            else:
                sys.stdout.write(f"key:\n{fhex(key or b'')}\n\nNot found\n")
            return 255
        print_key_value(ctx, fd, info, key or b"", v)
    return 0


def do_update(ctx: Context, args: Args) -> int:
    fd, info = _open(args)
    with fd:
        el = parse_elem(args, info, True, True, True)
        try:
            ops = _ops(fd, info)
            ops.update(el.key if info.key_size else None, el.value or b"", el.flags)  # type: ignore[arg-type]
        except BPFError as e:
            raise CLIError(f"update failed: {strerror(e)}") from None
        finally:
            if el.value_fd is not None:
                el.value_fd.close()
    if ctx.json:
        print("null")
    return 0


def do_getnext(ctx: Context, args: Args) -> int:
    fd, info = _open(args, BPF_F_RDONLY)
    with fd:
        key = parse_elem(args, info, True, False, False).key if args else None
        try:
            nxt = _ops(fd, info).next_key(key)
        except BPFError as e:
            raise CLIError(f"can't get next key: {strerror(e)}") from None
        if nxt is None:
            raise CLIError(f"can't get next key: {os.strerror(2)}")
    if ctx.json:
        o: dict[str, Any] = {"key": [f"0x{b:02x}" for b in key] if key is not None else None,
                             "next_key": [f"0x{b:02x}" for b in nxt]}
        ctx.emit_json(o)
    else:
        sys.stdout.write((f"key:\n{fhex(key)}\n" if key is not None else "key: None\n")
                         + f"next key:\n{fhex(nxt)}\n")
    return 0


def do_delete(ctx: Context, args: Args) -> int:
    fd, info = _open(args)
    with fd:
        el = parse_elem(args, info, True, False, False)
        ops = _ops(fd, info)
        try:
            if not ops.delete(el.key or b""):
                raise CLIError(f"delete failed: {os.strerror(2)}")
        except BPFError as e:
            raise CLIError(f"delete failed: {strerror(e)}") from None
    if ctx.json:
        print("null")
    return 0


def do_pop(ctx: Context, args: Args) -> int:
    fd, info = _open(args)
    with fd:
        args.done()
        ops = _ops(fd, info)
        try:
            v = ops.lookup_and_delete(None if not info.key_size else bytes(info.key_size))
        except BPFError as e:
            raise CLIError(f"pop failed: {strerror(e)}") from None
        if v is None:
            if ctx.json:
                print("null")
            else:
                print("Error: empty map")
            return 255
        print_key_value(ctx, fd, info, b"", v)
    return 0


def do_event_pipe(ctx: Context, args: Args) -> int:
    """Print what programs send through a perf event array (bpf_perf_event_output) until Ctrl-C.

    pybpf reads the rings with :class:`pybpf.events.PerfBuffer` (raw samples without the
    perf timestamp): the ``@sec.nsec`` of each record is CLOCK_MONOTONIC at reception.
    """
    import time

    fd, info = _open(args)
    cpu = idx = -1
    with fd:
        if info.type != MapType.PERF_EVENT_ARRAY:
            raise CLIError("map is not a perf event array")
        while args:
            if len(args) < 2:
                raise CLIError(f"what is '{args.peek()}'?")
            w = args.next()
            if is_prefix(w, "cpu"):
                cpu = _num(args.next(), "CPU ID")
            elif is_prefix(w, "index"):
                idx = _num(args.next(), "index")
            else:
                raise CLIError(f"what is '{w}'?")
        if (cpu < 0) != (idx < 0):
            raise CLIError("cpu and index must be specified together")
        if cpu >= 0 and cpu != idx:
            raise CLIError("pybpf puts each CPU's ring at its own index: use 'cpu N index N'")
        try:
            from ..events import PerfBuffer
        except ImportError:
            raise CLIError("map event_pipe needs pybpf.events.PerfBuffer") from None
        from ..map import Map

        out = sys.stdout
        first = [True]

        def emit(text: str) -> None:
            if ctx.json:
                out.write(("" if first[0] else ",") + text)
                first[0] = False
            else:
                out.write(text)
            out.flush()

        def on_sample(c: int, data: Any) -> None:
            ts = time.monotonic_ns()
            raw = bytes(data)
            if ctx.json:
                emit('{"type":9,"cpu":%d,"index":%d,"timestamp":%d,"data":[%s]}'
                     % (c, c, ts, ",".join(map(str, raw))))
            else:
                emit(f"== @{ts // 10**9}.{ts % 10**9:09d} CPU: {c} index: {c} =====\n{fhex(raw)}\n")

        def on_lost(c: int, n: int) -> None:
            if ctx.json:
                emit('{"type":2,"cpu":%d,"index":%d,"lost":{"id":0,"count":%d}}' % (c, c, n))
            else:
                emit(f"lost {n} events\n")

        m = Map.from_fd(fd.fd)
        try:
            pb = PerfBuffer(m, on_sample, on_lost, cpus=[cpu] if cpu >= 0 else None)
        except Exception as e:  # noqa: BLE001 - one line, like bpftool
            m.close()
            raise CLIError(f"failed to create perf buffer: {e}") from None
        if ctx.json:
            out.write("[")
        try:
            with pb:
                while True:
                    pb.poll(200)
        except KeyboardInterrupt:
            print("Stopping...", file=sys.stderr)
        finally:
            m.close()
            if ctx.json:
                out.write("]\n")
                out.flush()
    return 0


def _num(s: str, what: str) -> int:
    from ._common import strtoul

    try:
        return strtoul(s, what)
    except CLIError:
        raise CLIError(f"can't parse {s} as {what}") from None
