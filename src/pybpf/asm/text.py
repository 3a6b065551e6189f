"""Text assembler: llvm (``r0 = 0``), bpftool xlated and bpf_conformance (``mov %r0, 0``) syntax.

:func:`assemble` reads one instruction per line. Common to all syntaxes:

* comments: ``;`` and ``//`` to end of line, ``#`` at line start or after whitespace;
* labels: ``name:`` on its own line or before an instruction; jump and call
  targets may name a label (``goto out``, ``jeq %r1, 0, out``, ``call local f``);
* a leading slot index (``  12: ``), optionally followed by the hex bytes
  ``llvm-objdump -d`` prints (then verified against the text, and used to recover
  what llvm's text cannot show: a call's or ``lddw``'s ``src``, 32-bit atomics);
* a trailing ``@name`` sets the instruction's ``symbol``;
* ``.insn opcode, dst, src, off, imm`` gives an instruction by its raw fields.

The llvm syntax also accepts ``llvm-objdump`` output as is (section and symbol
headers, ``<target>`` annotations, ``-r`` relocation lines, which set the
preceding instruction's ``symbol``) and ``bpftool prog dump xlated`` output
(``   3: (18) r1 = map[id:12]``, ``call bpf_trace_printk#6``, ``goto pc+3``).
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from pybpf.errors import AssemblerError

from ._conf_syntax import parse_conformance
from ._llvm_syntax import parse_llvm
from ._parse import IDENT, ParseError
from .insn import Instruction, decode, resolve as _resolve

__all__ = ["assemble", "SYNTAXES"]

SYNTAXES = ("llvm", "xlated", "conformance", "auto")

_HEX8 = r"(?:[0-9a-fA-F]{2}[ \t]+){7}[0-9a-fA-F]{2}"
_RE_ADDR = re.compile(rf"^\s*(\d+):\s*(?:({_HEX8}(?:[ \t]+{_HEX8})?)(?=\s|$))?\s*(.*)$")
_RE_HEXONLY = re.compile(rf"^\s*{_HEX8}(?:[ \t]+{_HEX8})?\s*$")
_RE_LABEL = re.compile(rf"^({IDENT})\s*:\s*(.*)$")
_RE_SYMHDR = re.compile(r"^[0-9a-fA-F]+\s+<([^<>]+)>\s*:\s*$")
_RE_RELOC = re.compile(r"^[0-9a-fA-F]+:\s+(R_BPF_\w+)\s+(\S+)")
_RE_ANNOT = re.compile(r"\s+<[^<>\s]+>\s*$")
_RE_SYMBOL = re.compile(rf"\s+@({IDENT})\s*$")
_RE_OPC = re.compile(r"^\(([0-9a-fA-F]{2})\)\s*")
_RE_HASH_COMMENT = re.compile(r"(^|\s)#.*$")
_LOSSY_OPCODES = frozenset((0x85, 0x18, 0x40, 0x48, 0x50, 0x58, 0xC3, 0xDB))


def _strip_comments(line: str) -> str:
    for marker in ("//", ";"):
        idx = line.find(marker)
        if idx >= 0:
            line = line[:idx]
    return _RE_HASH_COMMENT.sub("", line)


def _detect(text: str) -> str:
    return "conformance" if "%r" in text else "llvm"


def _error(lineno: int, line: str, message: str) -> AssemblerError:
    err = AssemblerError(f"line {lineno}: {message}: {line.strip()!r}")
    err.lineno = lineno  # type: ignore[attr-defined]
    err.line = line  # type: ignore[attr-defined]
    return err


def _reconcile(parsed: Optional[Instruction], hexbytes: str) -> Instruction:
    """Check text against the hex column; prefer the hex where llvm's text is lossy."""
    decoded = decode(bytes.fromhex("".join(hexbytes.split())))
    if len(decoded) != 1:
        raise ParseError("hex column does not hold exactly one instruction")
    real = decoded[0]
    if parsed is None:
        return real
    if parsed.reference is not None:
        if parsed.opcode != real.opcode:
            raise ParseError(f"text does not match the hex column ({hexbytes.strip()})")
        return parsed  # the text names a label: keep it symbolic
    if parsed.encode() == real.encode():
        return parsed
    if parsed.opcode == real.opcode and parsed.dst == real.dst and real.opcode in _LOSSY_OPCODES:
        real.symbol = parsed.symbol
        return real
    raise ParseError(f"text does not match the hex column ({hexbytes.strip()})")


def _define(name: str, seen: set[str], pending: list[str], lineno: int, line: str) -> None:
    if name in seen:
        raise _error(lineno, line, f"duplicate label {name!r}")
    seen.add(name)
    pending.append(name)


def assemble(text: str, syntax: str = "llvm", *, resolve: bool = True) -> list[Instruction]:
    """Assemble text into instructions.

    ``syntax`` is ``"llvm"`` (also reads ``llvm-objdump -d`` and bpftool xlated output),
    ``"xlated"`` (same parser), ``"conformance"`` (bpf_conformance) or ``"auto"``
    (conformance if the text uses ``%r`` registers, else llvm).

    With ``resolve=True`` (the default) label references are resolved to offsets
    (see :func:`pybpf.asm.resolve`); in conformance syntax an undefined label ``exit``
    means the first ``exit`` instruction, as in bpf_conformance. With ``resolve=False``
    references are left in the instructions' ``reference`` fields.

    Errors raise :class:`~pybpf.errors.AssemblerError` naming the line number and text
    (also available as the exception's ``lineno`` and ``line`` attributes).
    """
    if syntax == "auto":
        syntax = _detect(text)
    if syntax in ("llvm", "xlated"):
        parse: Callable[[str, Optional[int]], Instruction] = parse_llvm
    elif syntax == "conformance":
        parse = parse_conformance
    else:
        raise AssemblerError(f"unknown syntax {syntax!r} (expected one of {', '.join(SYNTAXES)})")
    out: list[Instruction] = []
    pending: list[str] = []
    aliases: dict[str, str] = {}
    first_exit: Optional[int] = None
    seen_labels: set[str] = set()
    for lineno, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.strip()
        if not line:
            continue
        if syntax != "conformance":
            m = _RE_RELOC.match(line)
            if m:
                if out:
                    out[-1].symbol = m.group(2)
                continue
        line = _strip_comments(line).strip()
        if not line:
            continue
        if syntax != "conformance":
            if line.startswith("Disassembly of section") or "file format" in line:
                continue
            m = _RE_SYMHDR.match(line)
            if m:
                _define(m.group(1), seen_labels, pending, lineno, raw_line)
                continue
            if line.endswith("):") and "(" in line:
                continue  # bpftool: BTF function signature line
        if _RE_HEXONLY.match(line):
            continue  # bpftool "opcodes" line
        hexbytes = None
        m = _RE_ADDR.match(line)
        if m:
            hexbytes, line = m.group(2), m.group(3).strip()
        else:
            m = _RE_LABEL.match(line)
            while m:
                _define(m.group(1), seen_labels, pending, lineno, raw_line)
                line = m.group(2).strip()
                m = _RE_LABEL.match(line)
            if not line:
                continue
        hint = None
        m = _RE_OPC.match(line)
        if m:
            hint = int(m.group(1), 16)
            line = line[m.end():]
        symbol = None
        m = _RE_SYMBOL.search(line)
        if m:
            symbol = m.group(1)
            line = line[:m.start()]
        line = _RE_ANNOT.sub("", line).strip()
        try:
            if not line and hexbytes is None:
                raise ParseError("missing instruction")
            insn: Optional[Instruction]
            if line == "<unknown>" and hexbytes is not None:
                insn = None
            else:
                insn = parse(line, hint)
            if hexbytes is not None:
                insn = _reconcile(insn, hexbytes)
            assert insn is not None
            if hint is not None and hint != insn.opcode:
                raise ParseError(f"opcode annotation ({hint:02x}) does not match the instruction "
                                 f"({insn.opcode:02x})")
        except ParseError as exc:
            raise _error(lineno, raw_line, str(exc)) from None
        except AssemblerError as exc:
            raise _error(lineno, raw_line, str(exc)) from None
        if symbol is not None:
            insn.symbol = symbol
        if pending:
            insn.label = pending[0]
            for extra in pending[1:]:
                aliases[extra] = pending[0]
            pending = []
        if insn.opcode == 0x95 and first_exit is None:
            first_exit = len(out)
        out.append(insn)
    if pending:
        # Labels at the end of the text: only valid if nothing refers to them.
        for insn in out:
            if insn.reference in pending:
                raise AssemblerError(f"label {insn.reference!r} is not followed by an instruction")
    defined = {i.label for i in out if i.label is not None}
    for insn in out:
        ref = insn.reference
        if ref is None:
            continue
        if ref in aliases:
            insn.reference = aliases[ref]
        elif ref not in defined and syntax == "conformance" and ref == "exit" and first_exit is not None:
            target = out[first_exit]
            if target.label is None:
                target.label = "exit"
                defined.add("exit")
            insn.reference = target.label
    if not resolve:
        return out
    try:
        return _resolve(out)
    except AssemblerError as exc:
        raise AssemblerError(str(exc)) from None
