"""``pybpf prog verify OBJ [program NAME] [type TYPE] [log_level {1|2}] [kernel_btf FILE]`` (pybpf's own).

Each program of the object is loaded on its own (maps created for it and
released, pinning by name turned off: nothing outlives the command) with the
verifier log at level 2 plus statistics; the log is printed with source lines
from the object's BTF line_info (the kernel annotates the logs itself when it
got line_info; older kernels print ``; <source>`` without the location and get
``@ file:line`` added). Exit 0 if every program is accepted, else 1 with a
one-line summary.
"""

from __future__ import annotations

import os
import re
import struct
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import Error, VerifierError
from ._common import Args, CLIError, Context, is_prefix

_INSN = re.compile(r"^(\d+): \(")


def line_table(spec: Any, prog: Any) -> dict[int, str]:
    """{instruction index: "source @ file:line"} from a program spec's line_info."""
    btf, blob, size = spec.btf, prog.line_info, int(prog.line_info_rec_size or 0)
    if btf is None or not blob or size < 16:
        return {}
    out: dict[int, str] = {}
    for i in range(0, len(blob) - size + 1, size):
        off, file_off, line_off, line_col = struct.unpack_from("<IIII", blob, i)
        try:
            text, fname = btf.string(line_off).strip(), os.path.basename(btf.string(file_off))
        except Exception:  # noqa: BLE001 - a bad record only loses its annotation
            continue
        out[off] = f"{text} @ {fname}:{line_col >> 10}"
    return out


def annotate(log: str, lines: dict[int, str]) -> str:
    """The verifier log with ``; source @ file:line`` before the first instruction of each source line
    (left alone when the kernel already annotated it)."""
    if not lines or not log:
        return log
    out: list[str] = []
    prev_src = ""
    for ln in log.splitlines(keepends=True):
        if ln.startswith("; "):
            if " @ " in ln:
                return log  # annotated by the kernel (6.x)
            continue  # old kernels: "; source" only, replaced by ours below
        m = _INSN.match(ln)
        if m is not None:
            src = lines.get(int(m.group(1)))
            if src is not None and src != prev_src:
                out.append(f"; {src}\n")
                prev_src = src
        out.append(ln)
    return "".join(out)


def _parse(args: Args) -> dict[str, Any]:
    args.require(1)
    o: dict[str, Any] = {"file": args.next(), "program": None, "type": None, "level": 2, "kernel_btf": ""}
    while args:
        w = args.next()
        if is_prefix(w, "program"):
            o["program"] = args.next("a program name")
        elif is_prefix(w, "type"):
            from .prog_load import _prog_type_by_name

            o["type"] = _prog_type_by_name(args.next("a program type"))
        elif is_prefix(w, "log_level"):
            lv = args.next("1 or 2")
            if lv not in ("1", "2"):
                raise CLIError(f"log_level must be 1 or 2, got: '{lv}'")
            o["level"] = int(lv)
        elif is_prefix(w, "kernel_btf"):
            o["kernel_btf"] = args.next("a BTF file")
        else:
            raise CLIError(f"expected no more arguments, 'program', 'type', 'log_level' or 'kernel_btf', got: '{w}'?")
    return o


def _type_name(p: Any) -> str:
    t = p.type
    return t.name.lower() if hasattr(t, "name") else f"type {int(t)}"


def _verify_one(spec: Any, name: str, o: dict[str, Any], log_fn: Any) -> dict[str, Any]:
    s = spec.copy()
    for n, q in s.programs.items():
        q.autoload = n == name
        if o["type"] is not None:
            q.type, q.expected_attach_type = o["type"]
    for m in s.maps.values():
        m.pinning = 0
    p = s.programs[name]
    r: dict[str, Any] = {"name": name, "section": p.section, "type": _type_name(p), "verified": False, "log": "",
                         "error": None}
    kw: dict[str, Any] = {"log_level": o["level"] | 4, "log": log_fn}
    if o["kernel_btf"]:
        from .prog_load import _btf_targets

        kw["btf_targets"] = _btf_targets(o["kernel_btf"])
    try:
        with s.load(**kw) as obj:
            prog = obj.programs[name]
            r["verified"] = True
            r["log"] = prog.verifier_log
            st = prog.verifier_stats
            if st is not None:
                r["insns_processed"] = st.processed_insns
                r["states"] = st.total_states
                if st.verification_time_usec is not None:
                    r["verification_time_usec"] = st.verification_time_usec
    except VerifierError as e:
        r["log"], r["error"] = e.log, str(e)
    except (Error, OSError) as e:
        r["error"] = str(e)
    r["log"] = annotate(r["log"], line_table(s, p))
    return r


def verify(ctx: Context, args: Args) -> int:
    import pybpf

    o = _parse(args)
    log_fn = (lambda m: sys.stderr.write(f"pybpf: {m}\n")) if ctx.debug else None
    try:
        spec = pybpf.open(o["file"], log=log_fn)
    except (Error, OSError) as e:
        raise CLIError(f"failed to open object file: {e}") from None
    names = [n for n in spec.programs if o["program"] is None or n == o["program"]]
    if not names:
        raise CLIError(f"no program named '{o['program']}' in {o['file']}" if o["program"] else
                       f"{o['file']} has no program")
    results = []
    for name in names:
        r = _verify_one(spec, name, o, log_fn)
        results.append(r)
        if not ctx.json:
            out = sys.stdout
            out.write(f"prog '{name}' ({r['type']}, section '{r['section']}'):\n")
            out.write(r["log"] if r["log"].endswith("\n") or not r["log"] else r["log"] + "\n")
            if r["verified"]:
                n = r.get("insns_processed")
                out.write(f"prog '{name}': verified" + (f" ({n} insns processed)" if n is not None else "") + "\n\n")
            else:
                out.write(f"prog '{name}': REJECTED: {r['error']}\n\n")
            out.flush()
    if ctx.json:
        ctx.emit_json(results)
    bad = [r for r in results if not r["verified"]]
    if not bad:
        return 0
    if ctx.json:
        return 1
    if len(bad) == 1:
        err = str(bad[0]["error"])
        raise CLIError(err if f"'{bad[0]['name']}'" in err else f"prog '{bad[0]['name']}': {err}", 1)
    raise CLIError(f"{len(bad)} of {len(results)} programs rejected: " + ", ".join(r["name"] for r in bad), 1)
