"""Kernel memory reads the BCC way: ``task->real_parent->tgid`` becomes probe reads.

BCC's clang front end rewrites every read of kernel memory through a pointer
into ``bpf_probe_read`` calls (its ``ProbeVisitor``), so tools can write
``task->real_parent->tgid`` in kprobes and tracepoints where the verifier
forbids the direct load. This module does the same on clang's JSON AST of the
rewritten source (:func:`pybpf.compile.syntax.ast_transform`, cached like a
compile), editing the source text:

* a *read* is clang's lvalue-to-rvalue conversion of an lvalue in *kernel
  memory*: ``p->m`` with ``p`` a kernel pointer, ``x.m`` / ``x[i]`` with ``x``
  in kernel memory, ``*p`` / ``p[i]`` with ``p`` a kernel pointer. It becomes
  ``({ typeof(E) v; __bcc_probe_read(&v, sizeof(v), &(E)); v; })`` with the
  reads inside ``E`` rewritten too (``p->a->b`` reads ``p->a`` first); a bitfield
  becomes ``BPF_CORE_READ_BITFIELD_PROBED``. ``__bcc_probe_read`` is, as in BCC,
  ``bpf_probe_read``, which reads user addresses too (uprobe arguments), except
  where user and kernel addresses overlap (s390, RISC-V: ``bpf_probe_read_kernel``);
* a *kernel pointer* is an expression whose type points to a struct or union
  of the kernel's BTF (or to the source's own definition of one, see
  :mod:`._records`), a pointer read from kernel memory, the address of kernel
  memory, a kprobe program's pointer argument, what a function returning such
  pointers returns, or a local variable set from one — BCC's data flow where it
  is cheap, types elsewhere; not a pointer a map lookup returned (nor a variable
  holding one), not a program context (``struct pt_regs *`` parameters,
  ``__sk_buff``, ``xdp_md``, the UAPI ``bpf_*`` structs, tracepoint ``args``);
* untouched: writes (assignment targets, ``++``), ``&E`` itself (only the
  reads inside), ``sizeof``, macro bodies, BTF-typed programs (``kfunc__``,
  ``kretfunc__``, ``lsm__``, ``kmod_ret__``, ``SEC("fentry/...")``...) where the
  verifier checks direct access, and packet programs (``__sk_buff``, ``xdp_md``...
  contexts) where direct access is packet access.

The pass runs only when the source names a pointer to a kernel struct or has
kprobe arguments (:func:`wanted`), so programs without kernel pointers cost no
extra compiler run.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Mapping, Optional, Sequence

from ..errors import CompileError
from . import _clex as cl
from .rewriter import Rewritten, vmlinux_record

__all__ = ["wanted", "probe_reads", "kernel_record"]

_PREFIX = "__pybpf_ast_"         # the AST pass renames functions so one dump filter matches them all
_VAR = "__pybpf_v"
_PACKET_CTX = frozenset({"__sk_buff", "xdp_md", "sk_msg_md", "sk_reuseport_md", "bpf_sock_ops", "bpf_sock_addr",
                         "bpf_sock", "bpf_sockopt", "bpf_sysctl", "bpf_sk_lookup", "bpf_cgroup_dev_ctx",
                         "bpf_nf_ctx"})
_KERNEL_BPF = frozenset({"bpf_prog", "bpf_prog_aux", "bpf_map", "bpf_link", "bpf_btf", "bpf_array",
                         "bpf_htab", "bpf_trampoline"})
_BTF_SECTIONS = ("fentry/", "fexit/", "fmod_ret/", "lsm/", "lsm.s/", "tp_btf/", "iter/", "iter.s/",
                 "struct_ops", "fentry.s/", "fexit.s/", "freplace/")
_MAP_HELPERS = frozenset({"bpf_map_lookup_elem", "bpf_map_lookup_percpu_elem", "bpf_ringbuf_reserve",
                          "bpf_sk_storage_get", "bpf_task_storage_get", "bpf_inode_storage_get",
                          "bpf_cgrp_storage_get", "bpf_get_local_storage"})
_RECORD = re.compile(r"^(?:(?:const|volatile)\s+)*(?:struct|union)\s+(\w+)")
_RECORD_PTR = re.compile(r"^(?:(?:const|volatile)\s+)*(?:struct|union)\s+(\w+)\s*\*(?:\s*(?:const|volatile))*$")
_MENTION = re.compile(r"\b(?:struct|union)\s+(\w+)\s*\*")


@functools.lru_cache(maxsize=None)
def kernel_record(name: str) -> bool:
    """True if ``name`` is a struct/union of the kernel's BTF that programs reach through
    kernel pointers (not a program context or UAPI ``bpf_*`` type)."""
    if (name in _PACKET_CTX or name.startswith(("trace_event_raw_", "tracepoint__"))
            or name.startswith("bpf_") and name not in _KERNEL_BPF):
        return False
    return vmlinux_record(name)


@functools.lru_cache(maxsize=None)
def _bitfields(record: str) -> frozenset[str]:
    """Names of the bitfield members of kernel struct/union ``record`` (through anonymous members)."""
    from ..btf import BTF
    from ..btf.types import Kind

    out: set[str] = set()
    try:
        btf = BTF.load_vmlinux()
        found = btf.find_all(record, Kind.STRUCT) or btf.find_all(record, Kind.UNION)
    except Exception:
        return frozenset()

    def walk(t: Any, depth: int) -> None:
        t = t.resolve() if hasattr(t, "resolve") else t
        for m in getattr(t, "members", ()):
            if m.bitfield_size:
                out.add(m.name)
            elif not m.name and depth < 8:
                walk(m.type, depth + 1)
    for t in found[:1]:
        walk(t, 0)
    return frozenset(out)


def _body(rw: Rewritten) -> int:
    """Offset in ``rw.text`` where the user's source starts (after the prologue's ``#line 1``)."""
    i = rw.text.find("\n#line 1 ")
    return rw.text.index("\n", i + 1) + 1 if i >= 0 else 0


def wanted(rw: Rewritten) -> bool:
    """True if the source names a pointer to a kernel struct, or has a kprobe-style function
    with parameters: only then can it read kernel memory."""
    body = cl.mask(rw.text[_body(rw):])
    if re.search(r"\bBPF_K(?:PROBE|SYSCALL)\s*\(\s*\w+\s*,", body):
        return True  # kprobe arguments from registers (BCC's kprobe__f(ctx, args...))
    return any(kernel_record(n) or n in rw.user_records for n in set(_MENTION.findall(body)))


def probe_reads(rw: Rewritten, *, cflags: Sequence[str] = (), include_dirs: Sequence[str] = (),
                defines: Optional[Mapping[str, object]] = None, filename: Optional[str] = None) -> str:
    """``rw.text`` with its kernel memory reads made probe reads (the same text if there are
    none or clang rejects the source, whose compile then reports the errors)."""
    from ..compile.syntax import ast_transform

    names = list(dict.fromkeys(rw.defined))
    for _attempt in range(2):
        if not names:
            return rw.text
        # One dump filter must match every function: the AST pass's copy of the source renames
        # them all (``#define f __pybpf_ast_f``, ``____f`` too for BPF_PROG-style wrappers) from
        # the end of the prologue's #includes on, so the source's own uses are renamed alike.
        defs = "".join(f"#define {n} {_PREFIX}{n}\n#define ____{n} {_PREFIX}____{n}\n" for n in names)
        at = rw.decls_at
        source = rw.text[:at] + defs + rw.text[at:]

        def transform(text: str, path: str, ndefs: int = len(defs)) -> str:
            return _Pass(rw, path, at, ndefs).run(text)
        try:
            out = ast_transform(source, transform, tag=_tag(), dump_filter=_PREFIX, cflags=cflags,
                                include_dirs=include_dirs, defines=defines, filename=filename)
        except CompileError as e:
            # a function named like a member of a kernel struct (``x.f`` renamed too): leave it out
            clash = set(re.findall(rf"no member named '{_PREFIX}(\w+)'", e.output or ""))
            if not clash:
                return rw.text
            names = [n for n in names if n not in clash]
            continue
        return rw.text if out is None else out
    return rw.text


@functools.lru_cache(maxsize=1)
def _tag() -> str:
    """Cache tag of the pass's results: a digest of this module, so a changed rewriter misses."""
    import hashlib

    with open(__file__, "rb") as f:
        return "deref-" + hashlib.blake2b(f.read(), digest_size=8).hexdigest()


def _annotate(node: Any, state: list[str]) -> None:
    """Give every location of the JSON its file (clang writes ``file`` only when it changes)."""
    if isinstance(node, dict):
        if "offset" in node:
            if "file" in node:
                state[0] = node["file"]
            node["_f"] = state[0]
        for v in list(node.values()):
            if isinstance(v, (dict, list)):
                _annotate(v, state)
    elif isinstance(node, list):
        for v in node:
            _annotate(v, state)


def _inner(n: dict[str, Any]) -> list[dict[str, Any]]:
    return n.get("inner") or []


def _type(n: dict[str, Any]) -> str:
    t = n.get("type") or {}
    return t.get("desugaredQualType") or t.get("qualType") or ""


def _strip(n: dict[str, Any]) -> dict[str, Any]:
    """Through parentheses and casts other than loads and array decay."""
    while True:
        k = n.get("kind")
        if k == "ParenExpr" or k == "CStyleCastExpr" or (
                k == "ImplicitCastExpr" and n.get("castKind") not in ("LValueToRValue", "ArrayToPointerDecay")):
            if not _inner(n):
                return n
            n = _inner(n)[0]
            continue
        return n


def _declref(n: dict[str, Any]) -> Optional[dict[str, Any]]:
    n = _strip(n)
    if n.get("kind") == "ImplicitCastExpr" and n.get("castKind") == "LValueToRValue":
        n = _strip(_inner(n)[0])
    return n.get("referencedDecl") if n.get("kind") == "DeclRefExpr" else None


def _calls_map_helper(n: dict[str, Any]) -> bool:
    if n.get("kind") == "CallExpr" and _inner(n):
        ref = _declref(_inner(n)[0])
        if ref is not None and ref.get("name") in _MAP_HELPERS:
            return True
    return any(_calls_map_helper(c) for c in _inner(n))


class _Site:
    """A read to rewrite: source span, and for a bitfield the base's span, arrow and member."""

    __slots__ = ("a", "b", "field", "base", "arrow")

    def __init__(self, a: int, b: int, field: str = "", base: tuple[int, int] = (0, 0), arrow: bool = True) -> None:
        self.a, self.b, self.field, self.base, self.arrow = a, b, field, base, arrow


class _Pass:
    """One AST pass over the dumped functions: collect the reads, then edit the text."""

    def __init__(self, rw: Rewritten, path: str, at: int, ndefs: int) -> None:
        self.rw = rw
        self.text = rw.text
        self.flat = cl.mask(rw.text, keep_strings=True)
        self.masked = cl.mask(rw.text)
        self.dspans = cl.directive_spans(self.masked)
        self.path = path
        self.at, self.ndefs = at, ndefs
        self.btf_funcs = {n for n, f in rw.functions.items()
                          if f.kind in ("kfunc", "kretfunc", "lsm", "kmod_ret") or f.section.startswith(_BTF_SECTIONS)}
        self.sites: dict[tuple[int, int], _Site] = {}
        self.order: list[tuple[int, int]] = []          # spans of the reads, in visiting order
        self.poisoned: set[tuple[int, int]] = set()
        self.map_vars: set[str] = set()
        self.kernel_vars: set[str] = set()
        self.kernel_funcs: set[str] = set()             # functions returning kernel pointers
        self.returns_to: Optional[str] = None           # the function being visited, if it returns a pointer

    # ------------------------------------------------------------- locations
    def _loc(self, loc: dict[str, Any], end: bool) -> Optional[tuple[int, int]]:
        """(offset in the rewritten text, macro invocation or -1) of a location; None if unusable.

        A token a macro's body supplies stands for the macro's name in the source (BCC rewrites
        expansion ranges too): fine for where an expression begins, and for where it ends when
        the macro is object-like (``inet->inet_daddr``); a macro argument is edited where it is
        written, if the expression begins and ends in the same invocation."""
        ctx = -1
        if "spellingLoc" in loc:
            sp, ex = loc["spellingLoc"], loc["expansionLoc"]
            if sp.get("_f") == self.path and self.at <= sp.get("offset", -1) < self.at + self.ndefs:
                use = ex                                   # a renamed function's name
            elif ex.get("isMacroArgExpansion"):
                if sp.get("_f") != self.path:
                    return None
                use, ctx = sp, ex.get("offset", -1)        # a macro argument written in the source
            else:
                use = ex                                   # a macro body: the macro's name
                if end and self._call_follows(ex):
                    return None                            # a function-like macro: its end is unknown
        else:
            use = loc
        if use.get("_f") != self.path or "offset" not in use:
            return None
        off = self._unshift(use["offset"])
        if off is None:
            return None
        off += use.get("tokLen", 0) if end else 0
        if cl.in_spans(off - (1 if end else 0), self.dspans):
            return None
        return off, ctx

    def _unshift(self, off: int) -> Optional[int]:
        """An offset of the AST pass's source as an offset of the rewritten text (None: the renames)."""
        if off >= self.at + self.ndefs:
            return off - self.ndefs
        return None if off >= self.at else off

    def _call_follows(self, ex: dict[str, Any]) -> bool:
        """True if the macro name at expansion location ``ex`` is followed by ``(`` (an invocation)."""
        off = self._unshift(ex.get("offset", -1))
        if off is None:
            return True
        rest = self.masked[off + ex.get("tokLen", 0):off + ex.get("tokLen", 0) + 200].lstrip()
        return rest.startswith("(")

    def _span(self, n: dict[str, Any]) -> Optional[tuple[int, int]]:
        r = n.get("range") or {}
        if "begin" not in r or "end" not in r:
            return None
        a, b = self._loc(r["begin"], False), self._loc(r["end"], True)
        if a is None or b is None or a[1] != b[1] or a[0] >= b[0]:
            return None
        return a[0], b[0]

    # ------------------------------------------------------------- kernel pointers and memory
    def kptr(self, e: dict[str, Any]) -> bool:
        """True if rvalue ``e`` is a pointer into kernel memory."""
        if "*" not in _type(e):
            return False
        n, typed = e, False
        while True:
            k = n.get("kind")
            rec = _pointee(_type(n))
            if rec is not None and self.kernel_type(rec) and (rec != "pt_regs" or k == "CStyleCastExpr"):
                typed = True                           # a kernel struct pointer (a pt_regs only if cast to)
            if k == "ParenExpr" or k == "CStyleCastExpr" or (
                    k == "ImplicitCastExpr" and n.get("castKind") not in ("LValueToRValue", "ArrayToPointerDecay")):
                if not _inner(n):
                    return typed
                n = _inner(n)[0]
                continue
            break
        if k in ("StmtExpr", "CallExpr") and _calls_map_helper(n):
            return False                               # a map value
        if k == "CallExpr" and _inner(n):
            ref = _declref(_inner(n)[0])
            return typed or (ref is not None and ref.get("name") in self.kernel_funcs)
        if k == "ImplicitCastExpr" and n.get("castKind") == "LValueToRValue" and _inner(n):
            lv = _strip(_inner(n)[0])
            if lv.get("kind") == "DeclRefExpr":
                ident = (lv.get("referencedDecl") or {}).get("id")
                if ident in self.map_vars:
                    return False
                return typed or ident in self.kernel_vars
            return typed or self.kmem(lv)              # a pointer read from kernel memory
        if k == "UnaryOperator" and n.get("opcode") == "&" and _inner(n):
            return typed or self.kmem(_inner(n)[0])    # the address of kernel memory
        if k == "BinaryOperator" and n.get("opcode") in ("+", "-"):
            return typed or any(self.kptr(c) for c in _inner(n) if "*" in _type(c))
        if k == "ConditionalOperator" and len(_inner(n)) == 3:
            return typed or self.kptr(_inner(n)[1]) or self.kptr(_inner(n)[2])
        return typed

    def kernel_type(self, rec: str) -> bool:
        """A kernel struct, or the source's own definition of one (``struct __bcc_user_X``)."""
        return kernel_record(rec) or rec in self.rw.user_records

    def kmem(self, lv: dict[str, Any]) -> bool:
        """True if lvalue ``lv`` designates kernel memory."""
        k = lv.get("kind")
        ins = _inner(lv)
        if not ins:
            return False
        if k == "MemberExpr":
            return self.kptr(ins[0]) if lv.get("isArrow") else self.kmem(ins[0])
        if k == "ParenExpr":
            return self.kmem(ins[0])
        if k == "UnaryOperator" and lv.get("opcode") == "*":
            return self.kptr(ins[0])
        if k == "ArraySubscriptExpr":
            base = next((c for c in ins if "*" in _type(c)), ins[0])
            if base.get("kind") == "ImplicitCastExpr" and base.get("castKind") == "ArrayToPointerDecay":
                return self.kmem(_inner(base)[0])
            return self.kptr(base)
        return False

    # ------------------------------------------------------------- traversal
    def _note_var(self, ident: Optional[str], value: dict[str, Any], typ: str) -> None:
        if ident is None:
            return
        ref = _declref(value)
        if _calls_map_helper(_strip(value)) or (ref is not None and ref.get("id") in self.map_vars):
            self.map_vars.add(ident)
        elif "*" in typ and self.kptr(value):
            self.kernel_vars.add(ident)

    def visit(self, n: dict[str, Any]) -> None:
        k = n.get("kind")
        if k == "UnaryExprOrTypeTraitExpr":
            return                                      # sizeof/alignof: not evaluated
        first = len(self.order)
        for c in _inner(n):
            self.visit(c)
        if k == "ImplicitCastExpr" and n.get("castKind") == "LValueToRValue" and _inner(n):
            lv = _inner(n)[0]
            if self.kmem(lv):
                self._site(lv, self.order[first:])
        elif k == "VarDecl" and n.get("init") and _inner(n):
            self._note_var(n.get("id"), _inner(n)[-1], _type(n))
        elif k == "ReturnStmt" and self.returns_to is not None and _inner(n) and self.kptr(_inner(n)[0]):
            self.kernel_funcs.add(self.returns_to)
        elif k == "BinaryOperator" and n.get("opcode") == "=" and len(_inner(n)) == 2:
            lhs = _strip(_inner(n)[0])
            if lhs.get("kind") == "DeclRefExpr":
                self._note_var((lhs.get("referencedDecl") or {}).get("id"), _inner(n)[1], _type(lhs))

    def _site(self, lv: dict[str, Any], inside: list[tuple[int, int]]) -> None:
        span = self._span(lv)
        if span is None or span in self.poisoned:
            return
        if span in inside:
            # a read nested in another within one macro expansion: the text has nowhere to put it
            self.poisoned.add(span)
            self.sites.pop(span, None)
            return
        self.order.append(span)
        m = _strip(lv)
        if m.get("kind") == "MemberExpr" and _inner(m):
            base, arrow = _inner(m)[0], bool(m.get("isArrow"))
            rec = _record(_type(base))
            if rec is not None and m.get("name") in _bitfields(rec):
                while base.get("kind") == "MemberExpr" and not base.get("name") and _inner(base):
                    base, arrow = _inner(base)[0], bool(base.get("isArrow"))  # through anonymous members
                bspan = self._span(base)
                if bspan is not None:
                    self.sites[span] = _Site(span[0], span[1], m["name"], bspan, arrow)
                return
        self.sites.setdefault(span, _Site(*span))

    def _function(self, fn: dict[str, Any]) -> None:
        if _program(fn) in self.btf_funcs:
            return
        body = next((c for c in _inner(fn) if c.get("kind") == "CompoundStmt"), None)
        if body is None:
            return
        params = [c for c in _inner(fn) if c.get("kind") == "ParmVarDecl"]
        if params and _record(_type(params[0])) in _PACKET_CTX:
            return
        if params and _pointee(_type(params[0])) == "pt_regs" and _program(fn) in self.rw.functions:
            # a kprobe's arguments (from its registers) point into the probed code's memory
            self.kernel_vars.update(p["id"] for p in params[1:] if "*" in _type(p))
        ret = (fn.get("type") or {}).get("qualType", "").split("(", 1)[0]
        self.returns_to = fn.get("name") if "*" in ret else None
        self.visit(body)

    # ------------------------------------------------------------- output
    def run(self, json_text: str) -> str:
        from ..compile.syntax import ast_decls

        fns = []
        for d in ast_decls(json_text):
            _annotate(d, [""])
            if d.get("kind") == "FunctionDecl":
                fns.append(d)
        progs = [f for f in fns if _program(f) in self.rw.functions]
        tracing = any(not _packet(f) for f in progs) or not progs
        for f in fns:
            if tracing or f in progs:
                self._function(f)
        sites = sorted(self.sites.values(), key=lambda s: (s.a, -s.b))
        edits = []
        pos = 0
        for s in sites:
            if s.a >= pos:
                edits.append((s.a, s.b, self._render_site(s, sites)))
                pos = s.b
        out, pos = [], 0
        for a, b, r in edits:
            out.append(self.text[pos:a])
            out.append(r)
            pos = b
        out.append(self.text[pos:])
        return "".join(out)

    def _render(self, a: int, b: int, sites: list[_Site]) -> str:
        out, pos = [], a
        for s in sites:
            if s.a >= pos and a <= s.a and s.b <= b and (s.a, s.b) != (a, b):
                out.append(self.text[pos:s.a])
                out.append(self._render_site(s, sites))
                pos = s.b
        out.append(self.text[pos:b])
        return "".join(out)

    def _render_site(self, s: _Site, sites: list[_Site]) -> str:
        if s.field:
            base = self._render(s.base[0], s.base[1], sites)
            return f"BPF_CORE_READ_BITFIELD_PROBED({base if s.arrow else f'&({base})'}, {s.field})"
        flat = " ".join(self.flat[s.a:s.b].split())
        inner = self._render(s.a, s.b, sites)
        return (f"({{ typeof({flat}) {_VAR}; __bcc_probe_read((void *)&{_VAR}, sizeof({_VAR}), "
                f"&({inner})); {_VAR}; }})")


def _record(t: str) -> Optional[str]:
    """The struct/union a type names (``struct sk_buff *`` and ``struct sk_buff::(anonymous)``: sk_buff)."""
    m = _RECORD.match(t)
    return m.group(1) if m else None


def _pointee(t: str) -> Optional[str]:
    """The struct/union a pointer type points to (one level), None otherwise."""
    m = _RECORD_PTR.match(t)
    return m.group(1) if m else None


def _program(fn: dict[str, Any]) -> str:
    """The program a dumped function implements: its name without the AST pass's prefix; for
    ``____x``, the body libbpf's ``BPF_PROG(x, ...)``-style wrappers generate, ``x``."""
    name = fn.get("name", "")
    for part in ("____", _PREFIX, "____"):
        if name.startswith(part):
            name = name[len(part):]
    return name


def _packet(fn: dict[str, Any]) -> bool:
    params = [c for c in _inner(fn) if c.get("kind") == "ParmVarDecl"]
    return bool(params) and _record(_type(params[0])) in _PACKET_CTX


