"""``pybpf prog run``, ``prog tracelog [stdout|stderr PROG]`` and ``prog profile``."""

from __future__ import annotations

import ctypes
import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, BinaryIO

from ..errors import BPFError, Error
from ._common import Args, CLIError, Context, is_prefix, strerror, strtoul
from ._json import quote
from ._objects import prog_fd

_DEFAULT_OUT = 32 * 1024


def _read(name: str | None) -> bytes | None:
    if name is None:
        return None
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        with open(name, "rb") as f:
            return f.read()
    except OSError as e:
        raise CLIError(f"failed to open {name}: {strerror(e)}") from None


def hex_print(data: bytes, f: Any) -> None:
    """bpftool's hex_print(): ``offset\\thex pairs| ascii`` rows of 16 bytes."""
    for i in range(0, len(data), 16):
        row = data[i:i + 16]
        hx = "".join(f"{b:02x}{' ' if (i + j) % 2 else ''}" for j, b in enumerate(row))
        hx += "".join(f"  {' ' if (i + j) % 2 else ''}" for j in range(len(row), 16))
        asc = "".join((chr(b) if 32 <= b <= 126 else ".") + (" " if j == 7 else "") for j, b in enumerate(row))
        f.write(f"{i:07x}\t{hx}| {asc}\n")


def run(ctx: Context, args: Args) -> int:
    args.require(4)
    fd = prog_fd(args)
    names: dict[str, str] = {}
    sizes = {"data_size_out": 0, "ctx_size_out": 0}
    repeat = 1
    keys = ("data_in", "data_out", "data_size_out", "ctx_in", "ctx_out", "ctx_size_out", "repeat")
    try:
        while args:
            w = args.next()
            for group in (keys[:3], keys[3:6]):
                hits = [k for k in group if is_prefix(w, k)]
                if len(hits) > 1:
                    raise CLIError(f"ambiguous prefix: '{w}' could be '" + "' or '".join(hits) + "'")
            key = next((k for k in keys if is_prefix(w, k)), None)
            if key is None:
                raise CLIError("expected no more arguments, 'data_in', 'data_out', 'data_size_out', 'ctx_in', "
                               f"'ctx_out', 'ctx_size_out' or 'repeat', got: '{w}'?")
            val = args.next()
            if key in sizes:
                sizes[key] = strtoul(val, "output data size" if key == "data_size_out" else "output context size")
            elif key == "repeat":
                repeat = strtoul(val, "repeat number")
            else:
                names[key] = val
        if names.get("data_in") == "-" and names.get("ctx_in") == "-":
            raise CLIError("cannot use standard input for both data_in and ctx_in")
        data = _read(names.get("data_in"))
        ctxin = _read(names.get("ctx_in"))
        from ..prog import Program

        prog = Program.from_fd(fd.fd)
        try:
            res = prog.test_run(data or None, ctx=ctxin or None, repeat=repeat,
                                data_out_size=(sizes["data_size_out"] or _DEFAULT_OUT) if data else 0,
                                ctx_out_size=(sizes["ctx_size_out"] or _DEFAULT_OUT) if ctxin else 0)
        except BPFError as e:
            raise CLIError(f"failed to run program: {strerror(e)}") from None
        finally:
            prog.close()
    finally:
        fd.close()
    obj: dict[str, Any] = {}
    failed = 0
    for blob, key in ((res.data_out, "data_out"), (res.ctx_out, "ctx_out")):
        target = names.get(key)
        if not blob or target is None:
            continue
        if target == "-":
            if ctx.json:
                obj[key] = list(blob)
            else:
                hex_print(blob, sys.stdout)
            continue
        try:
            with open(target, "wb") as f:
                f.write(blob)
        except OSError as e:
            print(f"Error: failed to open {target}: {strerror(e)}", file=sys.stderr)
            failed += 1
    if ctx.json:
        obj["retval"] = res.retval & 0xFFFFFFFF
        obj["duration"] = res.duration_ns
        ctx.emit_json(obj)
    else:
        sys.stdout.write(f"Return value: {res.retval & 0xFFFFFFFF}, duration{' (average)' if repeat > 1 else ''}: "
                         f"{res.duration_ns}ns\n")
    return 255 if failed else 0


# -------------------------------------------------------------------------- tracelog
def _trace_pipe(ctx: Context) -> str:
    from .._sys.fs import find_tracefs

    try:
        return os.path.join(find_tracefs(mount_if_missing=not ctx.nomount), "trace_pipe")
    except Error as e:
        raise CLIError(f"could not find tracefs: {e}") from None


def tracelog(ctx: Context, args: Args) -> int:
    if args:
        w = args.next()
        if not (is_prefix(w, "stdout") or is_prefix(w, "stderr")):
            raise CLIError(f"expected 'stdout' or 'stderr', got: '{w}'")
        return _stream(ctx, args, 1 if is_prefix(w, "stdout") else 2)
    path = _trace_pipe(ctx)
    try:
        f: BinaryIO = open(path, "rb")
    except OSError as e:
        raise CLIError(f"could not open trace pipe: {strerror(e)}") from None
    out = sys.stdout
    first = True
    if ctx.json:
        out.write("[")
        out.flush()
    try:
        with f:
            for raw in f:
                line = raw.decode(errors="replace")
                if ctx.json:
                    out.write(("" if first else ",") + quote(line))
                    first = False
                else:
                    out.write(line)
                out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        if ctx.json:
            out.write("]\n")
            out.flush()
    return 0


def _stream(ctx: Context, args: Args, stream_id: int) -> int:
    """``tracelog {stdout|stderr} PROG``: drain the program's BPF stream (Linux 6.17+)."""
    from .._sys.attrs import ProgStreamReadAttr
    from .._sys.consts import Cmd
    from .._sys.syscall import bpf_raw

    args.require(2)
    fd = prog_fd(args)
    buf = ctypes.create_string_buffer(512)
    dest = sys.stdout if stream_id == 1 else sys.stderr
    with fd:
        while True:
            attr = ProgStreamReadAttr(stream_buf=ctypes.addressof(buf), stream_buf_len=512, stream_id=stream_id,
                               prog_fd=fd.fd)
            n = bpf_raw(Cmd.PROG_STREAM_READ_BY_FD, ctypes.addressof(attr), ctypes.sizeof(attr))
            if n < 0:
                raise CLIError(f"reading the program's BPF stream: {os.strerror(-n)}"
                               + (" (needs Linux 6.17+)" if -n in (22, 95) else ""))
            if n == 0:
                break
            dest.write(buf.raw[:n].decode(errors="replace"))
    dest.flush()
    return 0


# --------------------------------------------------------------------------- profile
_METRICS = {"cycles": (0, 0), "instructions": (0, 1), "l1d_loads": (3, 0x10000), "llc_misses": (3, 0x10002),
            "itlb_misses": (3, 0x10004), "dtlb_misses": (3, 0x10003)}


def profile(ctx: Context, args: Args) -> int:
    args.require(3)
    fd = prog_fd(args)
    with fd:
        metrics: list[str] = []
        while args:
            w = args.next()
            if is_prefix(w, "duration"):
                strtoul(args.next(), "duration")
                continue
            hit = [m for m in _METRICS if m == w]
            if not hit:
                raise CLIError(f"unknown metric {w}")
            if w in metrics:
                raise CLIError(f"duplicated metric: {w}")
            metrics.append(w)
        if not metrics:
            raise CLIError("no metric given (cycles | instructions | l1d_loads | llc_misses | itlb_misses | "
                           "dtlb_misses)")
        from .._sys import perf

        for m in metrics:
            typ, cfg = _METRICS[m]
            try:
                perf.open_event(perf.PerfEventAttr(type=typ, config=cfg), -1, 0).close()
            except Error as e:
                raise CLIError(f"profile: hardware counter '{m}' is not available here "
                               f"(perf_event_open: {e}); pybpf profiles with perf counters only") from None
        raise CLIError("profile: the fentry/fexit profiler is not available in pybpf yet")
