#!/usr/bin/env python3
"""Generate ``src/pybpf/compile/include/bpf/bpf_helper_defs.h`` from the UAPI ``linux/bpf.h``.

The kernel documents every BPF helper in a comment of ``include/uapi/linux/bpf.h``
(the block after "Start of BPF helper function descriptions"): each entry is a
C signature line followed by ``Description``/``Return`` (and optional
``Attributes``) paragraphs, and ``___BPF_FUNC_MAPPER`` lists ``FN(name, id)``.
This script turns them into one declaration per helper::

    static long (* const bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *) 2;

Type rewrites make the prototypes usable from a BPF program that includes
either ``vmlinux.h`` or ``<linux/bpf.h>``: kernel short types become their
UAPI spelling (``u64`` -> ``__u64``), ``struct bpf_map`` becomes ``void``, the
kernel-internal context structs become the UAPI context structs the program
sees (``struct sk_buff`` -> ``struct __sk_buff``, ``struct xdp_buff`` ->
``struct xdp_md``, ``struct sk_msg_buff`` -> ``struct sk_msg_md``), ``size_t``
becomes ``unsigned long``, and a parameter whose type differs between the
documented overloads of one helper (``bpf_get_socket_cookie``,
``bpf_sk_assign``) becomes ``void *``. Every struct that remains is forward
declared at file scope. Ids are checked against :class:`pybpf.asm.HelperID`.

Usage::

    python3 tools/gen_helper_defs.py [path/to/linux/bpf.h] [-o OUTPUT] [--check]

Without a path it uses the UAPI headers bundled in the ``ziglang`` wheel (else
``/usr/include/linux/bpf.h``). ``--check`` exits 1 if OUTPUT differs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "src" / "pybpf" / "compile" / "include" / "bpf" / "bpf_helper_defs.h"

_SCALARS = {f"{s}{n}": f"__{s}{n}" for s in "us" for n in (8, 16, 32, 64)}
_STRUCTS = {
    "struct bpf_map": "void",
    "struct sk_buff": "struct __sk_buff",
    "struct xdp_buff": "struct xdp_md",
    "struct sk_msg_buff": "struct sk_msg_md",
}
_SIG = re.compile(r"^(?P<ret>[A-Za-z_][\w\s]*?[\s*]+)(?P<name>bpf_\w+)\((?P<params>.*)\)\s*$")
_FN = re.compile(r"^\s*FN\((\w+),\s*(\d+),")


class Param(NamedTuple):
    type: str  # C type, e.g. "const void *"
    name: str  # may be "" (void, ...)


class Helper(NamedTuple):
    name: str
    ret: str
    params: tuple[Param, ...]
    attrs: tuple[str, ...]


def default_source() -> Path:
    """The UAPI bpf.h bundled with the ziglang wheel, else the system one."""
    import importlib.util

    spec = importlib.util.find_spec("ziglang")
    for d in (spec.submodule_search_locations or []) if spec else []:
        p = Path(d) / "lib/libc/include/any-linux-any/linux/bpf.h"
        if p.is_file():
            return p
    return Path("/usr/include/linux/bpf.h")


def _norm_type(t: str) -> str:
    """Kernel spelling of a type -> the spelling BPF programs compile against."""
    t = " ".join(t.split())
    words = t.split(" ")
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "struct" and i + 1 < len(words):
            full = f"struct {words[i + 1].rstrip('*')}"
            stars = words[i + 1][len(words[i + 1].rstrip("*")):]
            out.append(_STRUCTS.get(full, full) + stars)
            i += 2
            continue
        core = w.rstrip("*")
        stars = w[len(core):]
        if core == "size_t":
            core = "unsigned long"
        out.append(_SCALARS.get(core, core) + stars)
        i += 1
    return " ".join(out).replace(" *", " *").strip()


def _split_param(p: str) -> Param:
    p = " ".join(p.split())
    if p in ("void", "...", ""):
        return Param(p, "")
    m = re.match(r"^(.*?[\s*])(\w+)$", p)
    if not m:
        raise ValueError(f"cannot parse parameter {p!r}")
    return Param(_norm_type(m.group(1)), m.group(2))


def _doc_lines(text: str) -> list[str]:
    start = text.index("Start of BPF helper function descriptions")
    end = text.index("#define ___BPF_FUNC_MAPPER", start)
    lines = []
    for raw in text[start:end].splitlines()[1:]:
        s = raw.rstrip()
        if s.startswith(" *"):
            s = s[2:]
        elif s.startswith("*"):
            s = s[1:]
        lines.append(s)
    return lines


def _is_signature(lines: list[str], i: int) -> "re.Match[str] | None":
    """A signature is a line indented by exactly one space whose next text is ``Description``."""
    line = lines[i]
    if not line.startswith(" ") or line[1:2].isspace():
        return None
    m = _SIG.match(line[1:])
    nxt = next((x.strip() for x in lines[i + 1:] if x.strip()), "")
    return m if m and nxt == "Description" else None


def parse_helpers(text: str) -> tuple[dict[str, list[Helper]], dict[str, int]]:
    """``({name: [overloads...]}, {name: id})`` from the text of UAPI bpf.h."""
    lines = _doc_lines(text)
    sigs = [(i, m) for i in range(len(lines)) if (m := _is_signature(lines, i))]
    docs: dict[str, list[Helper]] = {}
    for n, (i, m) in enumerate(sigs):
        body = [x.strip() for x in lines[i + 1:sigs[n + 1][0] if n + 1 < len(sigs) else len(lines)]]
        attrs: list[str] = []
        if "Attributes" in body:
            for x in body[body.index("Attributes") + 1:]:
                if not x:
                    break
                attrs.extend(x.split())
        plist = m.group("params").strip()
        params = tuple(_split_param(p) for p in plist.split(",")) if plist else ()
        h = Helper(m.group("name"), _norm_type(m.group("ret")), params, tuple(attrs))
        docs.setdefault(h.name, []).append(h)
    ids: dict[str, int] = {}
    mapper = text[text.index("#define ___BPF_FUNC_MAPPER"):]
    for line in mapper.splitlines()[1:]:
        m2 = _FN.match(line)
        if m2:
            ids["bpf_" + m2.group(1)] = int(m2.group(2))
        elif not line.rstrip().endswith("\\"):
            break
    return docs, ids


def merge_overloads(overloads: list[Helper]) -> Helper:
    """One prototype for a helper documented once per context type."""
    first = overloads[0]
    if len(overloads) == 1:
        return first
    params = []
    for pos, p in enumerate(first.params):
        types = {o.params[pos].type for o in overloads if pos < len(o.params)}
        if len(types) > 1:
            p = Param("void *", "ctx" if pos == 0 else p.name)
        params.append(p)
    return first._replace(params=tuple(params))


def _decl(h: Helper, hid: int) -> str:
    ret = h.ret
    sep = "" if ret.endswith("*") else " "
    args = ", ".join(
        (p.type if not p.name else (f"{p.type}{p.name}" if p.type.endswith("*") else f"{p.type} {p.name}"))
        for p in h.params
    ) or "void"
    attrs = "".join(a + " " for a in h.attrs)
    return f"static {attrs}{ret}{sep}(* const {h.name})({args}) = (void *) {hid};"


def _struct_names(decls: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for d in decls:
        for m in re.finditer(r"\bstruct (\w+)", d):
            seen.setdefault(m.group(1), None)
    return sorted(seen)


def _linux_version(src: Path) -> str:
    v = src.parent / "version.h"
    try:
        m = re.search(r"LINUX_VERSION_CODE (\d+)", v.read_text())
    except OSError:
        m = None
    if not m:
        return "unknown"
    code = int(m.group(1))
    return f"{code >> 16}.{(code >> 8) & 0xFF}"


def generate(src: Path) -> str:
    """The text of bpf_helper_defs.h for UAPI header ``src``."""
    text = src.read_text()
    docs, ids = parse_helpers(text)
    missing = sorted(n for n in ids if n not in docs and ids[n] != 0)
    if missing:
        raise SystemExit(f"helpers without a documented signature: {missing}")
    _check_ids(ids)
    decls = [_decl(merge_overloads(docs[n]), i) for n, i in sorted(ids.items(), key=lambda kv: kv[1]) if i]
    fwd = "\n".join(f"struct {s};" for s in _struct_names(decls))
    return f"""\
/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * BPF helper prototypes, one per helper id (1..{max(ids.values())}).
 * GENERATED by tools/gen_helper_defs.py from the UAPI <linux/bpf.h>
 * (Linux {_linux_version(src)}) helper documentation: do not edit by hand.
 * Include <bpf/bpf_helpers.h> rather than this file.
 */
#ifndef __PYBPF_BPF_HELPER_DEFS_H
#define __PYBPF_BPF_HELPER_DEFS_H

/* Forward declarations of every struct the prototypes mention. */
{fwd}

#ifndef __bpf_fastcall
#if __has_attribute(bpf_fastcall)
#define __bpf_fastcall __attribute__((bpf_fastcall))
#else
#define __bpf_fastcall
#endif
#endif

""" + "\n".join(decls) + "\n\n#endif /* __PYBPF_BPF_HELPER_DEFS_H */\n"


def _check_ids(ids: dict[str, int]) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    try:
        from pybpf.asm import HelperID
    except ImportError:  # pragma: no cover - only when run outside the repo
        return
    ours = {"bpf_" + h.name: int(h) for h in HelperID}
    if ours != ids:
        diff = sorted(set(ours.items()) ^ set(ids.items()))
        raise SystemExit(f"helper ids disagree with pybpf.asm.HelperID: {diff[:10]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", nargs="?", type=Path, default=None, help="UAPI linux/bpf.h")
    ap.add_argument("-o", "--output", type=Path, default=OUTPUT)
    ap.add_argument("--check", action="store_true", help="fail if OUTPUT is not up to date")
    a = ap.parse_args(argv)
    text = generate(a.source or default_source())
    if a.check:
        cur = a.output.read_text() if a.output.exists() else ""
        if cur != text:
            print(f"{a.output} is out of date: run tools/gen_helper_defs.py", file=sys.stderr)
            return 1
        return 0
    os.makedirs(a.output.parent, exist_ok=True)
    a.output.write_text(text)
    print(f"wrote {a.output} ({text.count('= (void *)')} helpers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
