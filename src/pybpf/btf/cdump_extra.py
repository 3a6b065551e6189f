"""Extras of the C dumper: bpftool's sorted order, kfunc prototypes and the
on-disk output cache."""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import TYPE_CHECKING

from .cdump_raw import (
    ARRAY as _ARRAY, CONST as _CONST, DATASEC as _DATASEC, DECL_TAG as _DECL_TAG, ENUM as _ENUM,
    ENUM64 as _ENUM64, FLOAT as _FLOAT, FUNC as _FUNC, FUNC_PROTO as _FUNC_PROTO, INT as _INT, PTR as _PTR,
    RESTRICT as _RESTRICT, STRUCT as _STRUCT, TYPE_TAG as _TYPE_TAG, TYPEDEF as _TYPEDEF, UNION as _UNION,
    VAR as _VAR, VOLATILE as _VOLATILE,
)

if TYPE_CHECKING:  # pragma: no cover
    from .cdump import CDumper
    from .spec import BTF

__all__ = ["sorted_ids", "kfunc_prototypes", "want_cache", "cache_path", "cache_store"]

_SKIP_TOP = frozenset({_INT, _FLOAT, _FUNC, _VAR, _DATASEC, _DECL_TAG})


def _str_hash(s: str) -> int:
    h = 0
    for c in s.encode("utf-8", "surrogateescape"):
        h = (h * 31 + c) & 0xFFFFFFFFFFFFFFFF
    return h


def sorted_ids(d: "CDumper") -> list[int]:
    """bpftool's ``sort_btf_c`` order (types ranked by kind, then by name).

    Unlike bpftool, which skips the first type of its sorted array (meant to be
    void, but void sorts last), every type is dumped."""
    t = d.t
    kind, st, w, hdr, vlen = t.kind, t.st, t.w, t.hdr, t.vlen
    name = list(map(t.name_of, range(t.n)))  # functions' names too
    mask = 0xFFFFFFFFFFFFFFFF

    def target(i: int) -> int:
        return w[hdr[i] + 3] if kind[i] == _ARRAY else st[i]

    follow = {_TYPE_TAG, _CONST, _PTR, _VOLATILE, _RESTRICT, _TYPEDEF, _DECL_TAG, _ARRAY}

    def rank(i: int) -> int:
        has_name = False
        for _ in range(64):
            k = kind[i]
            if name[i]:
                has_name = True
            if k in (_ENUM, _ENUM64):
                return 1 if has_name else 0
            if k in (_INT, _FLOAT):
                return 2
            if k in (_STRUCT, _UNION):
                return 3 if has_name else 10
            if k == _FUNC_PROTO:
                return 4 if has_name else 10
            if k in follow and has_name:
                i = target(i)
                continue
            return 10
        return 10

    def sort_name(i: int, from_ref: bool = False) -> str:
        for _ in range(64):
            k = kind[i]
            if k in (_ENUM, _ENUM64):
                if not from_ref and not name[i] and vlen[i]:
                    return t.string(w[hdr[i] + 3])
                return name[i]
            if k in follow:
                i, from_ref = target(i), True
                continue
            return name[i]
        return name[i]

    def disambig(i: int, members: bool, depth: int = 0) -> int:
        h = 0
        if name[i]:
            h = (h * 31 + _str_hash(name[i])) & mask
        k = kind[i]
        if depth > 64:
            return h
        if k in (_ENUM, _ENUM64):
            step = 3 if k == _ENUM64 else 2
            for j in range(hdr[i] + 3, hdr[i] + 3 + step * vlen[i], step):
                s = t.string(w[j])
                if s:
                    h = (h * 31 + _str_hash(s)) & mask
        elif k in (_STRUCT, _UNION) and members:
            for j in range(hdr[i] + 3, hdr[i] + 3 + 3 * vlen[i], 3):
                s = t.string(w[j])
                if s:
                    h = (h * 31 + _str_hash(s)) & mask
                h = (h * 31 + disambig(w[j + 1], False, depth + 1)) & mask
        elif k == _ARRAY:
            h = (h * 31 + w[hdr[i] + 5]) & mask
            h = (h * 31 + disambig(w[hdr[i] + 3], members, depth + 1)) & mask
        elif k in follow:
            h = (h * 31 + disambig(st[i], members, depth + 1)) & mask
        return h

    # bpftool compares (rank, sort name, own name, disambiguation hash, id); the
    # hash is only needed to break ties, so it is computed for tied groups only.
    # Types that never emit anything at top level (funcs, vars, ...) go last.
    keys = []
    skipped = []
    for i in range(1, t.n):
        if kind[i] in _SKIP_TOP and kind[i] not in (_INT, _FLOAT):
            skipped.append(i)
            continue
        keys.append((rank(i), sort_name(i).encode("utf-8", "surrogateescape"),
                     name[i].encode("utf-8", "surrogateescape"), i))
    keys.sort()
    out: list[int] = []
    j, n = 0, len(keys)
    while j < n:
        k = j + 1
        head = keys[j][:3]
        while k < n and keys[k][:3] == head:
            k += 1
        if k - j == 1:
            out.append(keys[j][3])
        else:
            out.extend(sorted((x[3] for x in keys[j:k]), key=lambda i: (disambig(i, True), i)))
        j = k
    return out + skipped


def kfunc_prototypes(d: "CDumper") -> str:
    """``extern ... __weak __ksym;`` prototypes of the kfuncs (functions tagged ``bpf_kfunc``)."""
    t = d.t
    kind, name, st, w, hdr = t.kind, t.name, t.st, t.w, t.hdr
    kfuncs: dict[int, str] = {}
    fastcall: set[int] = set()
    for i in range(1, t.n):
        if kind[i] != _DECL_TAG or w[hdr[i] + 3] != 0xFFFFFFFF:
            continue
        f = st[i]
        if kind[f] != _FUNC:
            continue
        if name[i] == "bpf_kfunc":
            kfuncs[f] = t.name_of(f)
        elif name[i] == "bpf_fastcall":
            fastcall.add(f)
    out = ["\n/* BPF kfuncs */\n#ifndef BPF_NO_KFUNC_PROTOTYPES\n"]
    for f in sorted(kfuncs, key=lambda f: kfuncs[f].encode()):
        out.append("extern " + ("__bpf_fastcall " if f in fastcall else "") +
                   d.type_decl(st[f], kfuncs[f]) + " __weak __ksym;\n")
    out.append("#endif\n\n")
    return "".join(out)



# ---------------------------------------------------------------------- output cache
_CACHE_FORMAT = b"pybpf-cdump-1"
_CACHE_MIN = 256 * 1024
_CACHE_KEEP = 4


def want_cache(btf: "BTF", cache: "bool | None") -> bool:
    """Whether to use the output cache (``cache`` None: for big BTF only)."""
    from . import cache as _c
    if cache is False or not _c.enabled():
        return False
    return bool(cache) or len(btf.data) + (len(btf.base.data) if btf.base is not None else 0) >= _CACHE_MIN


def cache_path(btf: "BTF", opts: tuple) -> str:
    """The cache file for ``btf`` (and its bases) dumped with options ``opts``."""
    from . import cache as _c
    h = hashlib.blake2b(_CACHE_FORMAT, digest_size=20)
    h.update(repr(opts).encode())
    b: "BTF | None" = btf
    while b is not None:
        h.update(len(b.data).to_bytes(8, "little"))
        h.update(b.data)
        b = b.base
    return os.path.join(_c.cache_dir(), f"cdump-{h.hexdigest()}.h")


def cache_store(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically and keep the newest few entries (errors ignored)."""
    d = os.path.dirname(path)
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cdump-", suffix=".tmp", dir=d)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        entries = [e for e in os.scandir(d) if e.name.startswith("cdump-") and e.name.endswith(".h")]
        if len(entries) > _CACHE_KEEP:
            entries.sort(key=lambda e: e.stat().st_mtime, reverse=True)
            for e in entries[_CACHE_KEEP:]:
                os.unlink(e.path)
    except OSError:
        pass
