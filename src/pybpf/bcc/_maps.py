"""BCC table macros -> BTF-defined maps, and BCC's ``table.method(...)`` -> helper calls.

``BPF_HASH(counts, u32, u64, 1024)`` becomes::

    struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, u32); __type(value, u64);
             __uint(max_entries, 1024); } counts SEC(".maps")

so the map's key and value types are in the object's BTF (the Python tables
read their ctypes ``Key``/``Leaf`` from there), and ``typeof(*counts.key)`` /
``typeof(counts.value)`` give the method expansions their types without the
rewriter having to understand C types.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Optional

__all__ = ["TableDecl", "TABLE_MACROS", "parse_table", "map_definition", "expand_method", "METHODS",
           "BCC_TABLE_TYPES"]

# BPF_TABLE("<type>", ...) names -> BPF_MAP_TYPE_* suffix ("histogram": ARRAY for int keys, else HASH)
BCC_TABLE_TYPES = {
    "hash": "HASH", "array": "ARRAY", "prog": "PROG_ARRAY", "perf_output": "PERF_EVENT_ARRAY",
    "perf_array": "PERF_EVENT_ARRAY", "percpu_hash": "PERCPU_HASH", "percpu_array": "PERCPU_ARRAY",
    "stacktrace": "STACK_TRACE", "cgroup_array": "CGROUP_ARRAY", "lru_hash": "LRU_HASH",
    "lru_percpu_hash": "LRU_PERCPU_HASH", "lpm_trie": "LPM_TRIE", "array_of_maps": "ARRAY_OF_MAPS",
    "hash_of_maps": "HASH_OF_MAPS", "devmap": "DEVMAP", "devmap_hash": "DEVMAP_HASH", "cpumap": "CPUMAP",
    "xskmap": "XSKMAP", "sockmap": "SOCKMAP", "sockhash": "SOCKHASH", "sk_storage": "SK_STORAGE",
    "inode_storage": "INODE_STORAGE", "task_storage": "TASK_STORAGE", "queue": "QUEUE", "stack": "STACK",
    "ringbuf": "RINGBUF", "histogram": "histogram", "cgroup_storage": "CGROUP_STORAGE",
}
_PERCPU = {"PERCPU_HASH", "PERCPU_ARRAY", "LRU_PERCPU_HASH"}
_SIZED_ONLY = {"PERF_EVENT_ARRAY", "PROG_ARRAY", "CGROUP_ARRAY", "DEVMAP", "CPUMAP", "XSKMAP", "SOCKMAP"}
_NO_PREALLOC = {"LPM_TRIE", "SK_STORAGE", "INODE_STORAGE", "TASK_STORAGE"}


@dataclasses.dataclass
class TableDecl:
    """A table declared by a BCC macro: C type texts (None: not applicable) and C expressions."""

    name: str
    macro: str
    type: str                      # BPF_MAP_TYPE_ suffix, or "histogram"
    key: Optional[str] = None
    leaf: Optional[str] = None
    max_entries: Optional[str] = None
    flags: str = "0"
    inner: Optional[str] = None    # map-of-maps: the template table's name
    pinned: Optional[str] = None   # BPF_TABLE_PINNED path (a C string literal)
    line: int = 0
    cname: str = ""                # the C variable (and object map key); "" = ``name``

    @property
    def var(self) -> str:
        """The C variable of the map: ``cname`` if the rewriter renamed it (a clash with vmlinux.h), else ``name``."""
        return self.cname or self.name

    @property
    def percpu(self) -> bool:
        return self.type in _PERCPU


class TableMacroError(ValueError):
    pass


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] == '"':
        return s[1:-1]
    return s


def _pick(args: list[str], n_min: int, n_max: int, macro: str) -> None:
    if not n_min <= len(args) <= n_max:
        want = str(n_min) if n_min == n_max else f"{n_min} to {n_max}"
        raise TableMacroError(f"{macro}() takes {want} arguments, got {len(args)}")


def _table(args: list[str], macro: str, flags_at: Optional[int] = None) -> TableDecl:
    ttype = _unquote(args[0])
    if ttype == "extern":
        raise TableMacroError(f'{macro}("extern", ...): tables shared between BPF modules are not supported')
    kind = BCC_TABLE_TYPES.get(ttype)
    if kind is None:
        raise TableMacroError(f"{macro}(): unknown table type {args[0]} (one of: {', '.join(sorted(BCC_TABLE_TYPES))})")
    d = TableDecl(args[3], macro, kind, args[1], args[2], args[4])
    if flags_at is not None and len(args) > flags_at:
        d.flags = args[flags_at]
    return d


def _parse_table(macro: str, a: list[str]) -> TableDecl:
    if macro in ("BPF_HASH", "BPF_PERCPU_HASH", "BPF_LPM_TRIE"):
        _pick(a, 1, 4, macro)
        kind = {"BPF_HASH": "HASH", "BPF_PERCPU_HASH": "PERCPU_HASH", "BPF_LPM_TRIE": "LPM_TRIE"}[macro]
        return TableDecl(a[0], macro, kind, a[1] if len(a) > 1 else "u64", a[2] if len(a) > 2 else "u64",
                         a[3] if len(a) > 3 else "10240")
    if macro in ("BPF_ARRAY", "BPF_PERCPU_ARRAY"):
        _pick(a, 1, 3, macro)
        return TableDecl(a[0], macro, "ARRAY" if macro == "BPF_ARRAY" else "PERCPU_ARRAY", "int",
                         a[1] if len(a) > 1 else "u64", a[2] if len(a) > 2 else "10240")
    if macro == "BPF_HISTOGRAM":
        _pick(a, 1, 3, macro)
        return TableDecl(a[0], macro, "histogram", a[1] if len(a) > 1 else "int", "u64", a[2] if len(a) > 2 else "64")
    if macro in ("BPF_STACK_TRACE", "BPF_STACK_TRACE_BUILDID"):
        _pick(a, 2, 2, macro)
        leaf = "struct bpf_stacktrace" if macro == "BPF_STACK_TRACE" else "struct bpf_stacktrace_buildid"
        d = TableDecl(a[0], macro, "STACK_TRACE", "int", leaf, a[1])
        if macro == "BPF_STACK_TRACE_BUILDID":
            d.flags = "BPF_F_STACK_BUILD_ID"
        return d
    if macro == "BPF_PERF_OUTPUT":
        _pick(a, 1, 1, macro)
        return TableDecl(a[0], macro, "PERF_EVENT_ARRAY", "int", "u32", None)
    if macro in ("BPF_PERF_ARRAY", "BPF_CGROUP_ARRAY", "BPF_PROG_ARRAY", "BPF_DEVMAP", "BPF_CPUMAP", "BPF_XSKMAP",
                 "BPF_SOCKMAP"):
        _pick(a, 2, 2, macro)
        kind = {"BPF_PERF_ARRAY": "PERF_EVENT_ARRAY", "BPF_CGROUP_ARRAY": "CGROUP_ARRAY",
                "BPF_PROG_ARRAY": "PROG_ARRAY", "BPF_DEVMAP": "DEVMAP", "BPF_CPUMAP": "CPUMAP",
                "BPF_XSKMAP": "XSKMAP", "BPF_SOCKMAP": "SOCKMAP"}[macro]
        return TableDecl(a[0], macro, kind, "int", "u32", a[1])
    if macro == "BPF_SOCKHASH":
        _pick(a, 1, 3, macro)
        return TableDecl(a[0], macro, "SOCKHASH", a[1] if len(a) > 1 else "u32", "int", a[2] if len(a) > 2 else "10240")
    if macro == "BPF_RINGBUF_OUTPUT":
        _pick(a, 2, 2, macro)
        return TableDecl(a[0], macro, "RINGBUF", None, None, f"(({a[1]}) * __BCC_PAGE_SIZE)")
    if macro in ("BPF_QUEUE", "BPF_STACK"):
        _pick(a, 3, 4, macro)
        d = TableDecl(a[0], macro, macro[4:], None, a[1], a[2])
        if len(a) > 3:
            d.flags = a[3]
        return d
    if macro == "BPF_ARRAY_OF_MAPS":
        _pick(a, 3, 3, macro)
        return TableDecl(a[0], macro, "ARRAY_OF_MAPS", "int", None, a[2], inner=_unquote(a[1]))
    if macro == "BPF_HASH_OF_MAPS":
        _pick(a, 2, 4, macro)
        if len(a) == 2:
            return TableDecl(a[0], macro, "HASH_OF_MAPS", "int", None, "10240", inner=_unquote(a[1]))
        return TableDecl(a[0], macro, "HASH_OF_MAPS", a[1], None, a[3] if len(a) > 3 else "10240",
                         inner=_unquote(a[2]))
    if macro in ("BPF_SK_STORAGE", "BPF_INODE_STORAGE", "BPF_TASK_STORAGE"):
        _pick(a, 2, 2, macro)
        return TableDecl(a[0], macro, macro[4:], "int", a[1], "0")
    if macro in ("BPF_TABLE", "BPF_TABLE_PUBLIC", "BPF_TABLE_SHARED"):
        _pick(a, 5, 6, macro)
        return _table(a, macro, 5)
    if macro == "BPF_F_TABLE":
        _pick(a, 6, 6, macro)
        return _table(a, macro, 5)
    if macro == "BPF_TABLE_PINNED":
        _pick(a, 6, 7, macro)
        d = _table(a, macro, 6)
        d.pinned = a[5]
        return d
    raise TableMacroError(f"unknown table macro {macro}")


TABLE_MACROS = frozenset({
    "BPF_HASH", "BPF_PERCPU_HASH", "BPF_LPM_TRIE", "BPF_ARRAY", "BPF_PERCPU_ARRAY", "BPF_HISTOGRAM",
    "BPF_STACK_TRACE", "BPF_STACK_TRACE_BUILDID", "BPF_PERF_OUTPUT", "BPF_PERF_ARRAY", "BPF_CGROUP_ARRAY",
    "BPF_PROG_ARRAY", "BPF_DEVMAP", "BPF_CPUMAP", "BPF_XSKMAP", "BPF_SOCKMAP", "BPF_SOCKHASH",
    "BPF_RINGBUF_OUTPUT", "BPF_QUEUE", "BPF_STACK", "BPF_ARRAY_OF_MAPS", "BPF_HASH_OF_MAPS", "BPF_SK_STORAGE",
    "BPF_INODE_STORAGE", "BPF_TASK_STORAGE", "BPF_TABLE", "BPF_TABLE_PUBLIC", "BPF_TABLE_SHARED", "BPF_F_TABLE",
    "BPF_TABLE_PINNED",
})


def parse_table(macro: str, args: list[str]) -> TableDecl:
    """The :class:`TableDecl` of ``macro(args...)`` (argument texts); :class:`TableMacroError` if malformed."""
    d = _parse_table(macro, [x.strip() for x in args])
    if not d.name.isidentifier():
        raise TableMacroError(f"{macro}(): table name {d.name!r} is not an identifier")
    if d.type in _NO_PREALLOC and d.flags == "0":
        d.flags = "BPF_F_NO_PREALLOC"
    return d


def map_definition(d: TableDecl, tables: dict[str, TableDecl]) -> str:
    """The BTF map definition replacing the macro invocation (one line; the caller keeps the ``;``)."""
    if d.type == "histogram":
        mtype = f"__builtin_types_compatible_p({d.key}, int) ? BPF_MAP_TYPE_ARRAY : BPF_MAP_TYPE_HASH"
    else:
        mtype = f"BPF_MAP_TYPE_{d.type}"
    parts = [f"__uint(type, {mtype});"]
    if d.type in _SIZED_ONLY:
        parts.append("__uint(key_size, sizeof(int)); __uint(value_size, sizeof(u32));")
    else:
        if d.key is not None:
            parts.append(f"__type(key, {d.key});")
        if d.leaf is not None:
            parts.append(f"__type(value, {d.leaf});")
    if d.max_entries is not None:
        parts.append(f"__uint(max_entries, {d.max_entries});")
    if d.flags not in ("0", ""):
        parts.append(f"__uint(map_flags, {d.flags});")
    if d.inner is not None:
        if d.inner not in tables:
            raise TableMacroError(f"{d.macro}({d.name}): inner table {d.inner!r} must be declared before it")
        parts.append(f"__array(values, typeof({tables[d.inner].var}));")
    return "struct { " + " ".join(parts) + " } " + d.var + ' SEC(".maps")'


# ------------------------------------------------------------------ methods
_counter = itertools.count()


def _n() -> int:
    return next(_counter)


def _lookup(d: TableDecl, a: list[str]) -> str:
    if d.inner is not None or d.leaf is None or d.type in _SIZED_ONLY:
        return f"bpf_map_lookup_elem((void *)&{d.var}, {a[0]})"
    return f"((typeof({d.var}.value))bpf_map_lookup_elem((void *)&{d.var}, {a[0]}))"


def _lookup_or_init(d: TableDecl, a: list[str]) -> str:
    n = _n()
    v, k = f"__bcc_v{n}", f"__bcc_k{n}"
    return (f"({{ typeof({a[0]}) {k} = ({a[0]}); typeof({d.var}.value) {v} = "
            f"bpf_map_lookup_elem((void *)&{d.var}, {k}); if (!{v}) {{ "
            f"bpf_map_update_elem((void *)&{d.var}, {k}, {a[1]}, BPF_NOEXIST); "
            f"{v} = bpf_map_lookup_elem((void *)&{d.var}, {k}); }} {v}; }})")


def _increment(d: TableDecl, a: list[str], atomic: bool) -> str:
    n = _n()
    v, k, z = f"__bcc_v{n}", f"__bcc_k{n}", f"__bcc_z{n}"
    inc = a[1] if len(a) > 1 else "1"
    add = (f"__sync_fetch_and_add({v}, ({inc}));" if atomic or not d.percpu else f"*{v} += ({inc});")
    return (f"({{ typeof(*{d.var}.key) {k} = ({a[0]}); typeof({d.var}.value) {v} = "
            f"bpf_map_lookup_elem((void *)&{d.var}, &{k}); if (!{v}) {{ typeof(*{d.var}.value) {z}; "
            f"__builtin_memset(&{z}, 0, sizeof({z})); "
            f"bpf_map_update_elem((void *)&{d.var}, &{k}, &{z}, BPF_NOEXIST); "
            f"{v} = bpf_map_lookup_elem((void *)&{d.var}, &{k}); }} if ({v}) {add} }})")


def _m(fmt: str) -> Callable[[TableDecl, list[str]], str]:
    return lambda d, a: fmt.format(m=f"(void *)&{d.var}", a=a)


# name -> (min args, max args, expansion)
METHODS: dict[str, tuple[int, int, Callable[[TableDecl, list[str]], str]]] = {
    "lookup": (1, 1, _lookup),
    "lookup_or_init": (2, 2, _lookup_or_init),
    "lookup_or_try_init": (2, 2, _lookup_or_init),
    "update": (2, 2, _m("bpf_map_update_elem({m}, {a[0]}, {a[1]}, BPF_ANY)")),
    "insert": (2, 2, _m("bpf_map_update_elem({m}, {a[0]}, {a[1]}, BPF_NOEXIST)")),
    "delete": (1, 1, _m("bpf_map_delete_elem({m}, {a[0]})")),
    "increment": (1, 2, lambda d, a: _increment(d, a, False)),
    "atomic_increment": (1, 2, lambda d, a: _increment(d, a, True)),
    "perf_submit": (3, 3, _m("bpf_perf_event_output({a[0]}, {m}, BPF_F_CURRENT_CPU, {a[1]}, {a[2]})")),
    "perf_submit_skb": (4, 4, _m("bpf_perf_event_output({a[0]}, {m}, (((__u64)({a[1]})) << 32) | BPF_F_CURRENT_CPU, "
                                 "{a[2]}, {a[3]})")),
    "perf_read": (1, 1, _m("bpf_perf_event_read({m}, {a[0]})")),
    "perf_counter_value": (3, 3, _m("bpf_perf_event_read_value({m}, {a[0]}, {a[1]}, {a[2]})")),
    "ringbuf_output": (3, 3, _m("bpf_ringbuf_output({m}, {a[0]}, {a[1]}, {a[2]})")),
    "ringbuf_reserve": (1, 1, _m("bpf_ringbuf_reserve({m}, {a[0]}, 0)")),
    "ringbuf_submit": (2, 2, lambda d, a: f"bpf_ringbuf_submit({a[0]}, {a[1]})"),
    "ringbuf_discard": (2, 2, lambda d, a: f"bpf_ringbuf_discard({a[0]}, {a[1]})"),
    "ringbuf_query": (1, 1, _m("bpf_ringbuf_query({m}, {a[0]})")),
    "call": (2, 2, _m("bpf_tail_call({a[0]}, {m}, {a[1]})")),
    "push": (2, 2, _m("bpf_map_push_elem({m}, {a[0]}, {a[1]})")),
    "pop": (1, 1, _m("bpf_map_pop_elem({m}, {a[0]})")),
    "peek": (1, 1, _m("bpf_map_peek_elem({m}, {a[0]})")),
    "get_stackid": (2, 2, _m("bpf_get_stackid({a[0]}, {m}, {a[1]})")),
    "redirect_map": (2, 2, _m("bpf_redirect_map({m}, {a[0]}, {a[1]})")),
    "sock_map_update": (3, 3, _m("bpf_sock_map_update({a[0]}, {m}, {a[1]}, {a[2]})")),
    "sock_hash_update": (3, 3, _m("bpf_sock_hash_update({a[0]}, {m}, {a[1]}, {a[2]})")),
    "msg_redirect_map": (3, 3, _m("bpf_msg_redirect_map({a[0]}, {m}, {a[1]}, {a[2]})")),
    "msg_redirect_hash": (3, 3, _m("bpf_msg_redirect_hash({a[0]}, {m}, {a[1]}, {a[2]})")),
    "sk_redirect_map": (3, 3, _m("bpf_sk_redirect_map({a[0]}, {m}, {a[1]}, {a[2]})")),
    "sk_redirect_hash": (3, 3, _m("bpf_sk_redirect_hash({a[0]}, {m}, {a[1]}, {a[2]})")),
    "sk_storage_get": (3, 3, _m("bpf_sk_storage_get({m}, {a[0]}, {a[1]}, {a[2]})")),
    "sk_storage_delete": (1, 1, _m("bpf_sk_storage_delete({m}, {a[0]})")),
    "task_storage_get": (3, 3, _m("bpf_task_storage_get({m}, {a[0]}, {a[1]}, {a[2]})")),
    "task_storage_delete": (1, 1, _m("bpf_task_storage_delete({m}, {a[0]})")),
    "inode_storage_get": (3, 3, _m("bpf_inode_storage_get({m}, {a[0]}, {a[1]}, {a[2]})")),
    "inode_storage_delete": (1, 1, _m("bpf_inode_storage_delete({m}, {a[0]})")),
}


def expand_method(d: TableDecl, method: str, args: list[str]) -> str:
    """C text replacing ``d.name.method(args)``; :class:`TableMacroError` for unknown methods/arity."""
    spec = METHODS.get(method)
    if spec is None:
        raise TableMacroError(f"{d.name}.{method}(): unknown table method (one of: {', '.join(sorted(METHODS))})")
    lo, hi, fn = spec
    if not lo <= len(args) <= hi:
        want = str(lo) if lo == hi else f"{lo} or {hi}"
        raise TableMacroError(f"{d.name}.{method}() takes {want} arguments, got {len(args)}")
    return fn(d, args)
