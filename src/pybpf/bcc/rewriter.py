"""BCC's C dialect -> libbpf-style C that :func:`pybpf.compile.compile` builds.

BCC compiles its C with a clang front end that rewrites the AST; this module
does the same job on the text (no C parser): it finds table macros, table
method calls, probe macros and program functions with a small masked-text
scanner (:mod:`._clex`) and replaces them:

* ``BPF_HASH(...)`` & co. -> BTF-defined maps in ``SEC(".maps")`` (:mod:`._maps`);
* ``table.method(args)`` -> helper calls (``bpf_map_lookup_elem``, ``bpf_perf_event_output``...);
* every non-static function whose first parameter is a pointer (a context)
  becomes a program: ``SEC("<kind>/<target>")`` from its name prefix
  (``kprobe__``, ``kretprobe__``, ``tracepoint__<cat>__<event>``,
  ``raw_tracepoint__``, ``kfunc__``, ``kretfunc__``, ``lsm__``, ``kmod_ret__``),
  or a placeholder section whose type :meth:`BPF.load_func` sets later;
* kprobe/uprobe functions with parameters after ``struct pt_regs *ctx`` get
  them from the registers (``BPF_KPROBE``), as BCC does;
* ``TRACEPOINT_PROBE(cat, event)`` gets ``struct tracepoint__<cat>__<event>``
  generated from tracefs (:mod:`.tpformat`);
* a program that reads USDT arguments (``bpf_usdt_readarg``, ``bpf_usdt_readarg_p``,
  libbpf's ``BPF_USDT``) gets ``<bcc_usdt.h>`` (see :mod:`pybpf.bcc.usdt`);
* kernel ``#include <linux/...>`` lines that pybpf's BCC include directory
  does not provide are dropped: vmlinux.h declares the kernel's types;
* a GPL license is added when the program has none (BCC's default);
* a table whose name is also an ordinary identifier of vmlinux.h (a typedef
  such as ``config``, an enumerator such as ``DROP``) gets the C variable
  ``__bcc_tbl_<name>`` and its references (``&config``, ``typeof(config.value)``,
  method calls) are renamed; :class:`TableDecl` ``.var`` is the C name (the
  object's map key), the Python side keeps the BCC name.

Line numbers are preserved (replacements keep their newlines and the
prologue ends with ``#line 1``), so compiler errors point at the user's lines.
Kernel pointer dereferences (``task->real_parent->tgid``) need types, so BCC's
rewriting of them into probe reads happens afterwards, on clang's AST
(:mod:`pybpf.bcc._deref`). Table declarations in mutually exclusive ``#if``
branches are alternatives (a method call uses the one its own branches allow);
file-scope re-definitions of kernel structs (``struct mount { ... };``) become
declarations, so vmlinux.h's CO-RE-relocated definition is the one used, unless
they name members the kernel's lacks: then they are renamed (:mod:`._records`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Callable, Collection, Container, Mapping, Optional, Sequence, Union

from ..errors import CompileError
from . import _clex as cl
from ._maps import TABLE_MACROS, TableDecl, TableMacroError, expand_method, map_definition, parse_table
from ._records import MembersOf, record_definitions, rename_user_records, vmlinux_members
from .tpformat import read_format, tracepoint_struct

__all__ = ["Rewritten", "FuncInfo", "rewrite", "section_for", "PLACEHOLDER_SECTION", "include_dir",
           "vmlinux_identifier", "vmlinux_record", "TABLE_VAR_PREFIX"]

TABLE_VAR_PREFIX = "__bcc_tbl_"

PLACEHOLDER_SECTION = "kprobe"  # unprefixed programs: retyped by load_func before loading
_KERNEL_DIRS = {"linux", "uapi", "net", "asm", "asm-generic", "bcc", "trace", "generated", "crypto", "scsi",
                "rdma", "sound", "xen", "video", "drm", "misc", "media", "keys", "clocksource", "vdso", "kvm",
                "acpi", "soc", "ras", "dt-bindings", "bpf"}
_PROBE_MACROS = {
    "TRACEPOINT_PROBE": "tracepoint", "RAW_TRACEPOINT_PROBE": "raw_tracepoint", "KFUNC_PROBE": "kfunc",
    "KRETFUNC_PROBE": "kretfunc", "MODULE_KFUNC_PROBE": "kfunc", "MODULE_KRETFUNC_PROBE": "kretfunc",
    "LSM_PROBE": "lsm", "KMOD_RET": "kmod_ret",
}
_LIBBPF_WRAPPERS = {"BPF_PROG", "BPF_KPROBE", "BPF_KRETPROBE", "BPF_UPROBE", "BPF_URETPROBE", "BPF_KSYSCALL",
                    "BPF_KPROBE_SYSCALL", "BPF_PROG2", "BPF_USDT"}
_USDT_USE = re.compile(r"(?<![\w.])(?:bpf_usdt_readarg|bpf_usdt_readarg_p|BPF_USDT)\s*\(")
_NOT_TYPES = {"return", "sizeof", "else", "case", "goto", "typeof", "__typeof__"}


def include_dir() -> str:
    """pybpf's BCC headers (``bcc_compat.h``, ``linux/sched.h``, ``bcc/proto.h``...)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def vmlinux_record(name: str) -> bool:
    """True if the kernel's BTF (so vmlinux.h) defines ``struct name`` or ``union name``."""
    return vmlinux_members(name) is not None


_vmlinux_h: dict[str, bytes] = {}


def _vmlinux_h_enumerator(name: str) -> bool:
    """True if the generated vmlinux.h (which the compile needs anyway) has an enumerator
    ``name``: its lines are ``<tabs>NAME = value,``. Cheaper than parsing the kernel BTF."""
    from ..compile import vmlinux

    path = os.path.join(vmlinux.ensure_header(), "vmlinux.h")
    text = _vmlinux_h.get(path)
    if text is None:
        with open(path, "rb") as f:
            text = _vmlinux_h[path] = f.read()
    return re.search(rb"\n\t+" + re.escape(name.encode()) + rb" = ", text) is not None


def vmlinux_identifier(name: str) -> bool:
    """True if vmlinux.h (generated from the running kernel's BTF) declares ``name`` as an
    ordinary identifier: a typedef or an enumerator (struct/union/enum tags do not clash)."""
    try:
        from ..btf.spec import kernel_btf_has_string, kernel_btf_has_typedef

        if not kernel_btf_has_string(name):
            return False  # not even a string of the kernel's BTF: no BTF parse needed
        if kernel_btf_has_typedef(name):
            return True
        return _vmlinux_h_enumerator(name)
    except Exception:  # no kernel BTF: nothing to clash with
        return False


@dataclasses.dataclass
class FuncInfo:
    """A program function: ``section`` is its SEC() name (the placeholder for unprefixed ones)."""

    name: str
    section: str
    kind: Optional[str]  # kprobe, kretprobe, tracepoint, raw_tracepoint, kfunc, kretfunc, lsm, kmod_ret; None
    line: int
    target: str = ""     # what the prefix names: kernel function, "cat:event", raw tracepoint, LSM hook


@dataclasses.dataclass
class Rewritten:
    """The result of :func:`rewrite`."""

    text: str
    filename: str
    tables: dict[str, TableDecl]
    functions: dict[str, FuncInfo]
    tracepoints: list[tuple[str, str]]
    event_types: dict[str, str]           # table name -> C type of the records it carries
    dropped_includes: list[str]
    defined: list[str] = dataclasses.field(default_factory=list)  # every function defined, static ones too
    decls_at: int = 0                     # offset in ``text`` after the prologue's #includes
    user_records: dict[str, str] = dataclasses.field(default_factory=dict)  # renamed tag -> kernel tag


def section_for(name: str) -> tuple[Optional[str], Optional[str], str]:
    """(SEC name, kind, target) implied by a BCC function-name prefix; (None, None, "") if none."""
    def split_mod(rest: str) -> str:
        mod, sep, ev = rest.partition("__")
        return ev if sep and ev else rest
    if name.startswith("kprobe__"):
        return f"kprobe/{name[8:]}", "kprobe", name[8:]
    if name.startswith("kretprobe__"):
        return f"kretprobe/{name[11:]}", "kretprobe", name[11:]
    if name.startswith("tracepoint__"):
        rest = name[12:]
        i, j = rest.find("__"), rest.rfind("__")
        if 0 < i and j > i or (0 < i and i == j):
            cat, ev = rest[:i], rest[j + 2:]
            if ev:
                return f"tracepoint/{cat}/{ev}", "tracepoint", f"{cat}:{ev}"
        return None, None, ""
    if name.startswith("raw_tracepoint__"):
        return f"raw_tracepoint/{name[16:]}", "raw_tracepoint", name[16:]
    if name.startswith("kfunc__"):
        t = split_mod(name[7:])
        return f"fentry/{t}", "kfunc", t
    if name.startswith("kretfunc__"):
        t = split_mod(name[10:])
        return f"fexit/{t}", "kretfunc", t
    if name.startswith("lsm__"):
        return f"lsm/{name[5:]}", "lsm", name[5:]
    if name.startswith("kmod_ret__"):
        return f"fmod_ret/{name[10:]}", "kmod_ret", name[10:]
    return None, None, ""


class _Error(Exception):
    def __init__(self, pos: int, msg: str) -> None:
        super().__init__(msg)
        self.pos = pos


def _pad(original: str, repl: str, in_directive: bool) -> str:
    """``repl`` on one line followed by as many newlines as ``original`` had (line numbers stay)."""
    flat = repl.replace("\\\n", " ").replace("\n", " ")
    k = original.count("\n")
    return flat + ("\\\n" if in_directive else "\n") * k


def _match_open(m: str, close: int) -> int:
    depth = 0
    pairs = {")": "(", "]": "[", "}": "{"}
    for j in range(close, -1, -1):
        c = m[j]
        if c in pairs:
            depth += 1
        elif c in "([{":
            depth -= 1
            if depth == 0:
                return j
    return -1


class _Rewriter:
    def __init__(self, source: str, filename: str, tp_format: Callable[[str, str], str],
                 include_dirs: Sequence[str], page_size: int, reserved: Callable[[str], bool],
                 kernel_records: MembersOf, user_records: dict[str, str]) -> None:
        self.src = source
        self.reserved = reserved
        self.kernel_records = kernel_records
        self.user_records = user_records
        self.filename = filename
        self.tp_format = tp_format
        self.include_dirs = list(include_dirs)
        self.page_size = page_size
        self.code = cl.mask(source, keep_strings=True)   # comments gone, literals kept
        self.m = cl.mask(source)                         # literals blanked too
        self.dspans = cl.directive_spans(self.m)
        self.ms = cl.blank_spans(self.m, self.dspans)    # ...and directives blanked
        self.edits: list[tuple[int, int, str]] = []
        self.tables: dict[str, TableDecl] = {}
        self.alternatives: dict[str, list[tuple[cl.CondPath, TableDecl]]] = {}
        self.conds = cl.Conditionals(self.m, self.dspans)
        self.functions: dict[str, FuncInfo] = {}
        self.tracepoints: list[tuple[str, str]] = []
        self.event_types: dict[str, str] = {}
        self.dropped: list[str] = []
        self.defined: list[str] = []

    # -------------------------------------------------------------- helpers
    def err(self, pos: int, msg: str) -> CompileError:
        line = cl.line_of(self.src, pos)
        return CompileError(f"{self.filename}:{line}: error: {msg}")

    def edit(self, a: int, b: int, repl: str) -> None:
        self.edits.append((a, b, _pad(self.code[a:b], repl, cl.in_spans(a, self.dspans))))

    # -------------------------------------------------------------- tables
    def tables_pass(self) -> None:
        for mt in re.finditer(r"(?<![\w.])(BPF_\w+)\s*\(", self.ms):
            macro = mt.group(1)
            if macro not in TABLE_MACROS:
                continue
            open_ = mt.end() - 1
            close = cl.match_close(self.ms, open_)
            if close < 0:
                raise self.err(mt.start(), f"unbalanced parentheses in {macro}(")
            args = [self.code[a:b] for a, b in cl.split_args(self.m, open_ + 1, close)]
            try:
                d = parse_table(macro, args)
                d.line = cl.line_of(self.src, mt.start())
                if d.max_entries and "__BCC_PAGE_SIZE" in d.max_entries:
                    d.max_entries = d.max_entries.replace("__BCC_PAGE_SIZE", str(self.page_size))
                path = self.conds.path(mt.start())
                others = self.alternatives.setdefault(d.name, [])
                if any(not self.conds.exclusive(path, p) for p, _ in others):
                    raise TableMacroError(f"table {d.name!r} declared twice")
                if self.reserved(d.name):
                    d.cname = TABLE_VAR_PREFIX + d.name
                self.edit(mt.start(), close + 1, map_definition(d, self.tables))
            except TableMacroError as e:
                raise self.err(mt.start(), str(e)) from None
            others.append((path, d))  # declarations in exclusive #if branches: one survives
            self.tables.setdefault(d.name, d)

    def _table_at(self, name: str, pos: int) -> TableDecl:
        """The declaration of table ``name`` that a use at ``pos`` sees: of several declarations
        in exclusive ``#if`` branches, the one not excluded by the branches around ``pos``."""
        alts = self.alternatives.get(name, [])
        if len(alts) > 1:
            here = self.conds.path(pos)
            for path, d in alts:
                if not self.conds.exclusive(here, path):
                    return d
        return self.tables[name]

    # -------------------------------------------------------------- methods
    def _method_re(self) -> Optional[re.Pattern[str]]:
        if not self.tables:
            return None
        names = "|".join(sorted((re.escape(n) for n in self.tables), key=len, reverse=True))
        return re.compile(rf"(?<!->)(?<![\w.])({names})\s*\.\s*([A-Za-z_]\w*)\s*\(")

    def _calls(self, code: str, m: str, base: int, pat: re.Pattern[str]) -> list[tuple[int, int, str]]:
        """Outermost method calls in ``code`` as (start, end, expansion), relative to ``code``."""
        out: list[tuple[int, int, str]] = []
        pos = 0
        while True:
            mt = pat.search(m, pos)
            if mt is None:
                return out
            open_ = mt.end() - 1
            close = cl.match_close(m, open_)
            if close < 0:
                raise _Error(base + mt.start(), f"unbalanced parentheses in {mt.group(1)}.{mt.group(2)}(")
            args = []
            for a, b in cl.split_args(m, open_ + 1, close):
                sub = self._calls(code[a:b], m[a:b], base + a, pat)
                sub += [e for e in self._ident_edits(m[a:b], base + a) if not _overlaps(e, sub)]
                args.append(_apply(code[a:b], sub))
            d = self._table_at(mt.group(1), base + mt.start())
            try:
                repl = expand_method(d, mt.group(2), args)
            except TableMacroError as e:
                raise _Error(base + mt.start(), str(e)) from None
            self._note_event_type(d, mt.group(2), args, base + mt.start())
            out.append((mt.start(), close + 1, repl))
            pos = close + 1

    def methods_pass(self) -> None:
        pat = self._method_re()
        if pat is None:
            return
        try:
            for a, b, repl in self._calls(self.code, self.m, 0, pat):
                self.edit(a, b, repl)
        except _Error as e:
            raise self.err(e.pos, str(e)) from None

    # ------------------------------------------------------- renamed tables
    def _ident_edits(self, m: str, base: int) -> list[tuple[int, int, str]]:
        """References to renamed tables in ``m`` (masked text at ``base``): (start, end, C name)."""
        renamed = {n: d.cname for n, d in self.tables.items() if d.cname}
        if not renamed:
            return []
        names = "|".join(sorted((re.escape(n) for n in renamed), key=len, reverse=True))
        out = []
        for mt in re.finditer(rf"(?<![\w.])({names})(?!\w)", m):
            before = m[:mt.start()].rstrip()
            if before.endswith("->") or re.search(r"(?<!\w)(?:struct|union|enum)$", before):
                continue  # a member or a tag, not the table
            at = base + mt.start()
            if self._in_record_body(at):
                continue  # a struct/union member declaration
            if cl.in_spans(at, self.dspans):
                d0 = max((a for a, b in self.dspans if a <= at < b), default=at)
                if not re.match(r"#\s*define\b", self.m[d0:at].lstrip()):
                    continue  # #include <linux/config.h>, #ifdef ...: not a C reference
            out.append((mt.start(), mt.end(), renamed[mt.group(1)]))
        return out

    def _in_record_body(self, pos: int) -> bool:
        depth = 0
        for j in range(pos - 1, -1, -1):
            c = self.m[j]
            if c == "}":
                depth += 1
            elif c == "{":
                if depth == 0:
                    head = self.m[max(0, j - 200):j]
                    return re.search(r"\b(?:struct|union)\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?\w*\s*$",
                                     head) is not None
                depth -= 1
        return False

    def idents_pass(self) -> None:
        for a, b, name in self._ident_edits(self.m, 0):
            if not _overlaps((a, b, name), self.edits):
                self.edits.append((a, b, name))

    # ------------------------------------------------------- event record types
    def _decl_type(self, ident: str, before: int, pointer: bool) -> Optional[str]:
        text = self.ms[:before]
        if pointer:
            pat = rf"((?:struct|union)\s+\w+|[A-Za-z_]\w*)\s*\*\s*{re.escape(ident)}\s*[=;,)\[]"
        else:
            pat = rf"((?:struct|union)\s+\w+|[A-Za-z_]\w*)\s+{re.escape(ident)}\s*[=;,)\[]"
        found = None
        for mt in re.finditer(pat, text):
            t = " ".join(mt.group(1).split())
            if t not in _NOT_TYPES:
                found = t
        return found

    def _note_event_type(self, d: TableDecl, method: str, args: list[str], pos: int) -> None:
        if d.name in self.event_types:
            return
        data = size = None
        if method == "perf_submit":
            data, size = args[1], args[2]
        elif method == "perf_submit_skb":
            data, size = args[2], args[3]
        elif method == "ringbuf_output":
            data, size = args[0], args[1]
        elif method == "ringbuf_reserve":
            size = args[0]
            mt = re.search(r"((?:struct|union)\s+\w+|[A-Za-z_]\w*)\s*\*\s*\w+\s*=\s*(?:\([^()]*\)\s*)?$",
                           self.ms[max(0, pos - 200):pos])
            if mt is not None and mt.group(1) not in _NOT_TYPES:
                self.event_types[d.name] = " ".join(mt.group(1).split())
                return
        elif method == "ringbuf_submit":
            data = args[0]
        else:
            return
        t = None
        if data is not None:
            s = data.strip()
            mt = re.fullmatch(r"&\s*([A-Za-z_]\w*)", s)
            if mt is not None:
                t = self._decl_type(mt.group(1), pos, pointer=False)
            elif re.fullmatch(r"[A-Za-z_]\w*", s):
                t = self._decl_type(s, pos, pointer=True)
        if t is None and size is not None:
            mt = re.fullmatch(r"sizeof\s*\(\s*((?:struct|union)\s+\w+)\s*\)", size.strip())
            if mt is not None:
                t = " ".join(mt.group(1).split())
        if t is not None:
            self.event_types[d.name] = t

    # -------------------------------------------------------------- kernel structs
    def records_pass(self) -> None:
        """Drop the body of a file-scope ``struct X { ... };`` that vmlinux.h defines too, with
        the members the source names (see :mod:`._records`): it becomes ``struct X;``."""
        for tag, open_, close in record_definitions(self.ms):
            if self.kernel_records(tag) is None or self.conds.path(open_) != self.conds.path(close):
                continue  # not the kernel's; or an #if opened inside and closed outside
            self.edit(open_, close + 1, "")

    # -------------------------------------------------------------- functions
    def functions_pass(self) -> None:
        ms = self.ms
        for open_, _close in cl.top_level_braces(ms):
            hs = max(ms.rfind(";", 0, open_), ms.rfind("}", 0, open_)) + 1
            hdr_end = len(ms[:open_].rstrip())
            if hdr_end <= hs or ms[hdr_end - 1] != ")":
                continue
            close = hdr_end - 1
            popen = _match_open(ms, close)
            while popen > 0:
                nm = re.search(r"([A-Za-z_]\w*)\s*$", ms[hs:popen])
                if nm is None or nm.group(1) != "__attribute__":
                    break
                close = len(ms[:hs + nm.start()].rstrip()) - 1  # skip a trailing __attribute__((...))
                if close < hs or ms[close] != ")":
                    popen = -1
                    break
                popen = _match_open(ms, close)
            if popen <= hs:
                continue
            nm = re.search(r"([A-Za-z_]\w*)\s*$", ms[hs:popen])
            if nm is None:
                continue
            name_at = hs + nm.start(1)
            specs = ms[hs:name_at]
            if "=" in specs or re.search(r"\b(struct|union|enum)\s*$", specs):
                continue
            self._function(nm.group(1), hs, name_at, popen, close, open_, specs)

    def _function(self, name: str, hs: int, name_at: int, popen: int, close: int, body: int, specs: str) -> None:
        head = self.ms[hs:name_at]
        decl_at = hs + len(head) - len(head.lstrip())
        line = cl.line_of(self.src, name_at)
        has_sec = re.search(r"\bSEC\s*\(|section\s*\(", self.code[hs:name_at]) is not None
        user_sec = None
        if has_sec:
            ms_sec = re.search(r'\bSEC\s*\(\s*"([^"]*)"', self.code[hs:name_at])
            user_sec = ms_sec.group(1) if ms_sec else None
        args = [self.code[a:b] for a, b in cl.split_args(self.m, popen + 1, close)]
        if name in _PROBE_MACROS:
            fname, psec, pkind, target = self._probe_macro(name, args, name_at)
            if fname in self.functions:
                raise self.err(name_at, f"program {fname!r} defined twice")
            self.defined.append(fname)
            self.functions[fname] = FuncInfo(fname, user_sec or psec, pkind, line, target)
            if not has_sec:
                self.edits.append((decl_at, decl_at, f'SEC("{psec}") '))
            return
        if name in _LIBBPF_WRAPPERS:
            if not args:
                return
            fname = args[0].strip()
            self.defined.append(fname)
            sec, kind, target = section_for(fname)
            self.functions[fname] = FuncInfo(fname, user_sec or sec or PLACEHOLDER_SECTION, kind, line, target)
            if not has_sec:
                self.edits.append((decl_at, decl_at, f'SEC("{sec or PLACEHOLDER_SECTION}") '))
            return
        if name in ("__attribute__", "if", "while", "for", "switch"):
            return
        self.defined.append(name)
        if re.search(r"\bstatic\b", specs):
            return
        if not args or args == ["void"]:
            if re.search(rf"(?<![\w.>]){re.escape(name)}\s*\(", self.ms[body:]):
                return  # called by the code that follows: a global function, not a program
            self.edit(popen, close + 1, "(void *ctx)")  # BCC loads any non-static function: give it a context
        elif "*" not in args[0]:
            return  # not taking a context: a global function, not a program
        sec, kind, target = section_for(name)
        self.functions[name] = FuncInfo(name, user_sec or sec or PLACEHOLDER_SECTION, kind, line, target)
        if not has_sec:
            self.edits.append((decl_at, decl_at, f'SEC("{sec or PLACEHOLDER_SECTION}") '))
        if len(args) < 2:
            return
        ctx = re.fullmatch(r"(?:const\s+)?struct\s+pt_regs\s*\*\s*(?:const\s+)?([A-Za-z_]\w*)", args[0].strip())
        if ctx is not None and kind in (None, "kprobe"):
            wrapper = "BPF_KSYSCALL" if name.startswith("syscall__") else "BPF_KPROBE"
            self.edit(name_at, close + 1, f"{wrapper}({name}, {', '.join(a.strip() for a in args[1:])})")
            if ctx.group(1) != "ctx":
                self.edits.append((body + 1, body + 1, f" struct pt_regs *{ctx.group(1)} = ctx;"))

    def _probe_macro(self, macro: str, args: list[str], pos: int) -> tuple[str, str, str, str]:
        a = [x.strip() for x in args]
        if macro == "TRACEPOINT_PROBE":
            if len(a) != 2:
                raise self.err(pos, "TRACEPOINT_PROBE(category, event) takes 2 arguments")
            if (a[0], a[1]) not in self.tracepoints:
                self.tracepoints.append((a[0], a[1]))
            return f"tracepoint__{a[0]}__{a[1]}", f"tracepoint/{a[0]}/{a[1]}", "tracepoint", f"{a[0]}:{a[1]}"
        if macro == "RAW_TRACEPOINT_PROBE":
            if len(a) != 1:
                raise self.err(pos, "RAW_TRACEPOINT_PROBE(event) takes 1 argument")
            return f"raw_tracepoint__{a[0]}", f"raw_tracepoint/{a[0]}", "raw_tracepoint", a[0]
        if not a or not a[0]:
            raise self.err(pos, f"{macro}() needs the kernel function or hook name")
        if macro.startswith("MODULE_"):
            if len(a) < 2:
                raise self.err(pos, f"{macro}(module, function, args...) needs a module and a function")
            kind = _PROBE_MACROS[macro]
            sec = "fentry" if kind == "kfunc" else "fexit"
            return f"{kind}__{a[0]}__{a[1]}", f"{sec}/{a[1]}", kind, a[1]
        kind = _PROBE_MACROS[macro]
        if kind in ("kfunc", "kretfunc"):
            sec = "fentry" if kind == "kfunc" else "fexit"
            return f"{kind}__vmlinux__{a[0]}", f"{sec}/{a[0]}", kind, a[0]
        if kind == "lsm":
            return f"lsm__{a[0]}", f"lsm/{a[0]}", kind, a[0]
        return f"kmod_ret__{a[0]}", f"fmod_ret/{a[0]}", kind, a[0]

    # -------------------------------------------------------------- includes etc.
    def includes_pass(self) -> None:
        ours = include_dir()
        for mt in re.finditer(r"^[ \t]*#[ \t]*include[ \t]*<([^>\n]+)>[^\n]*", self.code, re.M):
            hdr = mt.group(1).strip()
            if os.path.isfile(os.path.join(ours, hdr)):
                continue
            if any(os.path.isfile(os.path.join(d, hdr)) for d in self.include_dirs):
                continue
            if hdr.split("/", 1)[0] in _KERNEL_DIRS and "/" in hdr:
                self.edits.append((mt.start(), mt.end(), f"/* <{hdr}>: served by vmlinux.h */"))
                self.dropped.append(hdr)

    def tracepoint_structs(self) -> str:
        for mt in re.finditer(r"\bstruct\s+tracepoint__(\w+)", self.ms):
            sec, kind, target = section_for("tracepoint__" + mt.group(1))
            if kind == "tracepoint":
                cat, ev = target.split(":", 1)
                if (cat, ev) not in self.tracepoints:
                    self.tracepoints.append((cat, ev))
        out = []
        for cat, ev in self.tracepoints:
            try:
                fmt = self.tp_format(cat, ev)
            except OSError as e:
                raise CompileError(f"{self.filename}: error: {e}") from None
            out.append(tracepoint_struct(cat, ev, fmt))
        return "".join(out)

    def run(self, prelude: str = "") -> Rewritten:
        self.tables_pass()
        self.methods_pass()
        self.records_pass()
        self.functions_pass()
        self.idents_pass()
        self.includes_pass()
        structs = self.tracepoint_structs()
        body = _apply(self.code, self.edits)
        for table, ctype in self.event_types.items():
            # Types used only for locals are not in BTF: a never-called global function whose
            # parameter has the record type puts it there, for the Python side's event().
            body += f"\nint __bcc_event_{table}({ctype} *__e) {{ return 0; }}\n"
        if not re.search(r'SEC\s*\(\s*"license"|section\s*\(\s*"license"|\bBPF_LICENSE\s*\(', self.code):
            body += '\nchar _license[] SEC("license") = "GPL";\n'
        name = self.filename.replace("\\", "\\\\").replace('"', '\\"')
        usdt = "#include <bcc_usdt.h>\n" if _USDT_USE.search(self.ms) else ""
        includes = '#include "vmlinux.h"\n#include <bcc_compat.h>\n' + usdt + prelude
        prologue = includes + structs + f'#line 1 "{name}"\n'
        return Rewritten(prologue + body, self.filename, self.tables, self.functions, self.tracepoints,
                         self.event_types, self.dropped, self.defined, len(includes), self.user_records)


def _overlaps(e: tuple[int, int, str], edits: list[tuple[int, int, str]]) -> bool:
    a, b = e[0], e[1]
    return any((a < eb and ea < b) if ea < eb else a < ea < b for ea, eb, _ in edits)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply non-overlapping (start, end, replacement) edits (zero-width inserts allowed)."""
    if not edits:
        return text
    out = []
    pos = 0
    for a, b, r in sorted(edits, key=lambda e: (e[0], e[1])):
        if a < pos:
            raise CompileError(f"internal rewriter error: overlapping edits at offset {a}")
        out.append(text[pos:a])
        out.append(r)
        pos = b
    out.append(text[pos:])
    return "".join(out)


def rewrite(source: str, *, filename: str = "<text>", tp_format: Optional[Callable[[str, str], str]] = None,
            include_dirs: Sequence[str] = (), page_size: Optional[int] = None, prelude: str = "",
            reserved: Union[Callable[[str], bool], Container[str], None] = None,
            kernel_records: Union[MembersOf, Mapping[str, Collection[str]], None] = None) -> Rewritten:
    """Rewrite BCC C ``source`` into libbpf-style C (see the module docs).

    ``tp_format(category, event)`` returns a tracepoint's tracefs format text
    (default: read it from tracefs). ``include_dirs`` are the user's ``-I``
    directories (their headers are never dropped). Raises
    :class:`~pybpf.errors.CompileError` (``file:line: error: ...``) for
    malformed BCC constructs. ``prelude`` is C placed before the source (line numbers unaffected).
    ``reserved``: the identifiers a table may not be called in C (a predicate or a set; default
    :func:`vmlinux_identifier`): such tables become ``__bcc_tbl_<name>`` variables.
    ``kernel_records``: the member names of the structs/unions vmlinux.h defines, by tag (a
    mapping, or a function returning None for other tags; default: the kernel's BTF), for the
    source's re-definitions of kernel structs (:mod:`._records`).
    """
    if page_size is None:
        import mmap

        page_size = mmap.PAGESIZE
    if reserved is None:
        reserved = vmlinux_identifier
    elif not callable(reserved):
        reserved = reserved.__contains__
    if kernel_records is None:
        kernel_records = vmlinux_members
    elif not callable(kernel_records):
        kernel_records = kernel_records.get
    source, user_records = rename_user_records(source, kernel_records)
    return _Rewriter(source, filename, tp_format or read_format, include_dirs, page_size, reserved,
                     kernel_records, user_records).run(prelude)
