"""CO-RE (Compile Once - Run Everywhere) relocation, as libbpf's ``relo_core.c`` does it.

::

    from pybpf.btf.core import relocate
    insns = relocate(insns, [(slot, relo), ...], obj_btf, [BTF.load_vmlinux()],
                     log=print, prog_name="handle")

For every ``(slot, CoreRelo)`` pair the local access spec (``CoreRelo.type_id``
+ ``access_str`` in the object's BTF) is matched against *candidate* types of
the target BTFs: types with the same essential name (``task_struct___old`` ->
``task_struct``) and a compatible kind, looked up in vmlinux first and in the
module BTFs only if vmlinux has none. All matching candidates must agree on
the result (else "ambiguity" error). The instruction at ``slot`` is then
checked (it must hold the value computed for the local type) and patched:
ALU/ALU64 ``imm``, LDX/ST/STX ``off`` (and the access size when a field was
resized in a way that is safe), or the 64-bit immediate of an ``lddw``.

When no candidate matches, ``*_EXISTS``/``TYPE_MATCHES`` relocations become 0
(so do ``TYPE_SIZE`` and ``TYPE_ID_TARGET``, like libbpf) and the others
*poison* the instruction: it becomes ``call 0xbad2310`` (an invalid helper),
which the verifier only rejects if the instruction is reachable. A poisoned
``lddw`` becomes two such calls (slot count unchanged, one more list element).

The module is pure (no syscalls); matching internals live in
:mod:`pybpf.btf.core_match` (specs, matching) and :mod:`pybpf.btf.core_calc` (values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Optional, Sequence

from ..asm.insn import Instruction
from ..asm.opcodes import LDDW
from ..errors import BTFError, Error
from .core_calc import calc_relo
from .core_match import (
    CoreFail, Spec, essential_name, essential_name_len, format_spec, kind_str, parse_spec,
    relo_kind_str, spec_match, types_are_compat, types_match,
)
from .ext import CoreRelo, CoreReloKind
from .types import Kind, Type

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = [
    "relocate", "resolve_relo", "patch_insn", "find_candidates", "CoreError", "CoreResult", "CoreCache",
    "Candidate", "POISON_IMM", "poison_insn", "essential_name", "essential_name_len",
    "types_are_compat", "types_match", "format_spec", "relo_kind_str",
]

#: The helper id a poisoned instruction calls: ``0xbad2310`` ("bad relo"); the verifier
#: reports it as ``invalid func unknown#195896080``.
POISON_IMM = 195896080

_BPF_CALL = 0x85  # BPF_JMP | BPF_CALL
_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_SHRT_MAX = 0x7FFF
_SIZE_BYTES = {0x18: 8, 0x00: 4, 0x08: 2, 0x10: 1}
_BYTES_SIZE = {8: 0x18, 4: 0x00, 2: 0x08, 1: 0x10}

Log = Optional[Callable[[str], None]]


class CoreError(Error):
    """A CO-RE relocation failed; the message is one line naming the program,
    relocation, instruction, relocation kind and local type.

    ``relo_index``, ``insn_index`` (slot), ``kind``, ``type_id`` and ``reason``
    (the message without context) are kept as attributes; ``errno`` is the
    symbolic errno libbpf would have returned (``"EINVAL"``, ``"ERANGE"``...).
    """

    def __init__(self, message: str, *, reason: str = "", relo_index: int = -1, insn_index: int = -1,
                 kind: "CoreReloKind | int | None" = None, type_id: int = 0, errno: str = "EINVAL") -> None:
        super().__init__(message)
        self.reason = reason or message
        self.relo_index = relo_index
        self.insn_index = insn_index
        self.kind = kind
        self.type_id = type_id
        self.errno = errno


@dataclass
class Candidate:
    """A target type that may correspond to the local type: ``btf[type_id]``;
    ``btf_name`` is ``vmlinux``, the BTF's ``name`` attribute if it has one, or
    ``module #i`` (its position in ``targets``)."""

    btf: "BTF"
    type_id: int
    btf_name: str = "vmlinux"


@dataclass
class CoreResult:
    """The decision for one relocation (libbpf's ``bpf_core_relo_res`` plus context).

    ``orig_val`` is what the instruction must hold (checked when ``validate``),
    ``new_val`` what it gets; ``poison`` means it is replaced by ``call 0xbad2310``
    (no candidate matched, or -- set by :func:`relocate` -- a load/store whose size
    can't be adjusted safely, ``fail_memsz_adjust``).
    ``orig_sz``/``new_sz``: field sizes for a load/store resize (0: none).
    ``local_spec``/``target_spec``: libbpf-style spec strings (target None when no
    candidate matched); ``target`` the first matching candidate, ``matches`` how many
    candidates matched (and agreed).
    """

    relo_index: int
    insn_index: int
    kind: "CoreReloKind | int"
    type_id: int
    orig_val: int = 0
    new_val: int = 0
    poison: bool = False
    validate: bool = True
    fail_memsz_adjust: bool = False
    orig_sz: int = 0
    new_sz: int = 0
    orig_type_id: int = 0
    new_type_id: int = 0
    local_spec: str = ""
    target_spec: Optional[str] = None
    target: Optional[Candidate] = None
    matches: int = 0


@dataclass
class CoreCache:
    """Candidate lists per local type id, shared by the relocations of one object
    (pass the same cache to :func:`relocate` for every program of an object, like
    libbpf's per-object ``cand_cache``). Bound to one (local, targets) pair."""

    local: Optional["BTF"] = None
    targets: tuple = ()
    cands: dict[int, list[Candidate]] = field(default_factory=dict)

    def bind(self, local: "BTF", targets: Sequence["BTF"]) -> None:
        tg = tuple(targets)
        if self.local is None:
            self.local, self.targets = local, tg
        elif self.local is not local or len(self.targets) != len(tg) or any(
                a is not b for a, b in zip(self.targets, tg)):
            raise ValueError("CoreCache used with a different local BTF or target list")


# ---------------------------------------------------------------------- candidates
def _compat_kind(a: Kind, b: Kind) -> bool:
    return a == b or (a in (Kind.ENUM, Kind.ENUM64) and b in (Kind.ENUM, Kind.ENUM64))


def _own_ids_essentially_named(targ: "BTF", ess: str) -> list[int]:
    """Ids of ``targ``'s own types (not its base's) whose essential name is ``ess``:
    named ``ess`` or ``ess___flavor``, from the name index (an exact lookup and a
    prefix range), ascending."""
    eb = ess.encode("utf-8", "surrogateescape")
    ids = set(targ._ids_named(eb))
    for tid, raw in targ._names_with_prefix(eb + b"___"):
        # every name whose essential name is ``ess`` starts with ``ess___``; the converse
        # does not hold (``ess____x``, ``ess___a___b``)
        if tid not in ids and essential_name(raw.decode("utf-8", "surrogateescape")) == ess:
            ids.add(tid)
    return sorted(ids)


def _add_cands(local_t: Type, ess: str, targ: "BTF", name: str, out: list[Candidate]) -> None:
    """``bpf_core_add_cands`` with the name index instead of a linear scan: every type of
    ``targ`` itself (not its base) whose essential name is ``ess``, in id order."""
    for tid in _own_ids_essentially_named(targ, ess):
        t = targ[tid]
        if _compat_kind(t.kind, local_t.kind):
            out.append(Candidate(targ, tid, name))


def _btf_name(btf: "BTF", i: int) -> str:
    nm = getattr(btf, "name", None)
    if isinstance(nm, str) and nm:
        return nm
    return "vmlinux" if i == 0 else f"module #{i}"


def find_candidates(local: "BTF", type_id: int, targets: Sequence["BTF"], log: Log = None) -> list[Candidate]:
    """``bpf_core_find_cands``: target types matching ``local[type_id]`` by essential
    name and kind, from ``targets[0]`` (vmlinux) or, if it has none, from the others."""
    lt = local[type_id]
    if not lt.name:
        raise CoreFail("EINVAL", "candidate search for an anonymous type")
    ess = essential_name(lt.name)
    cands: list[Candidate] = []
    for i, targ in enumerate(targets):
        if i == 1 and cands:
            break  # vmlinux had candidates: don't look into modules
        _add_cands(lt, ess, targ, _btf_name(targ, i), cands)
    if log is not None:
        for c in cands:
            t = c.btf[c.type_id]
            log(f"CO-RE relocating [{type_id}] {kind_str(lt)} {lt.name}: found target candidate "
                f"[{c.type_id}] {kind_str(t)} {t.name} in [{c.btf_name}]")
    return cands


# ---------------------------------------------------------------------- resolution
def _type_desc(local: "BTF", type_id: int) -> str:
    try:
        t = local[type_id]
    except (BTFError, IndexError):
        return f"[{type_id}] <invalid>"
    return f"[{type_id}] {kind_str(t)} {t.name or '<anon>'}"


def resolve_relo(relo: CoreRelo, local: "BTF", targets: Sequence["BTF"], *, relo_index: int = 0,
                 insn_index: int = 0, cache: Optional[CoreCache] = None, log: Log = None,
                 prog_name: str = "") -> CoreResult:
    """Compute one relocation (libbpf's ``bpf_core_resolve_relo`` + ``bpf_core_calc_relo_insn``)
    without touching instructions. Raises :class:`CoreError`."""
    kind = relo.kind
    pfx = f"prog '{prog_name}': " if prog_name else ""
    rpfx = f"{pfx}relo #{relo_index}: "

    what = f"<{relo_kind_str(kind)}> {_type_desc(local, relo.type_id)} + {relo.access_str}"

    def fail(reason: str, errno: str = "EINVAL") -> CoreError:
        if log is not None:
            log(f"{rpfx}{reason}")
        return _error(rpfx, insn_index, what, reason, relo_index, kind, relo.type_id, errno)

    if cache is None:
        cache = CoreCache()
    cache.bind(local, targets)
    try:
        local_t = local[relo.type_id]
    except (BTFError, IndexError):
        raise fail(f"local type id {relo.type_id} does not exist") from None

    cands: Optional[list[Candidate]] = None
    if kind != CoreReloKind.TYPE_ID_LOCAL:
        cands = cache.cands.get(relo.type_id)
        if cands is None:
            if not local_t.name:
                raise fail("relocation doesn't support anonymous types", "EOPNOTSUPP")
            try:
                cands = find_candidates(local, relo.type_id, targets, log)
            except CoreFail as e:  # pragma: no cover - find_candidates only fails for anonymous types
                raise fail(f"target candidate search failed: {e.message}", e.errno) from None
            cache.cands[relo.type_id] = cands

    try:
        local_spec = parse_spec(local, relo.type_id, relo.access_str, kind)
    except CoreFail as e:
        raise fail(f"parsing {_type_desc(local, relo.type_id)} + {relo.access_str} failed: {e.message}",
                   e.errno) from None
    what = lspec = format_spec(local_spec)
    if log is not None:
        log(f"{rpfx}{lspec}")
    res = CoreResult(relo_index, insn_index, kind, relo.type_id, local_spec=lspec)

    if kind == CoreReloKind.TYPE_ID_LOCAL:
        # the id may change during linking: no validation
        res.validate = False
        res.orig_val = res.new_val = local_spec.root_type_id
        return res
    if not local_t.name:
        raise fail("relocation doesn't support anonymous types", "EOPNOTSUPP")
    assert cands is not None

    warn = (lambda m: log(f"{pfx}{m}")) if log is not None else None  # noqa: E731
    kept: list[Candidate] = []
    best_spec: Optional[Spec] = None
    for i, cand in enumerate(cands):
        cspec = Spec(cand.btf, cand.type_id, kind)
        try:
            matched = spec_match(local_spec, cand.btf, cand.type_id, cspec, warn)
        except CoreFail as e:
            raise fail(f"error matching candidate #{i} {format_spec(cspec)}: {e.message}", e.errno) from None
        if log is not None:
            log(f"{rpfx}{'matching' if matched else 'non-matching'} candidate #{i} {format_spec(cspec)}")
        if not matched:
            continue
        try:
            val = calc_relo(kind, local_spec, cspec)
        except CoreFail as e:
            raise fail(e.message, e.errno) from None
        if best_spec is None:
            best_spec = cspec
            _fill(res, val)
            res.target_spec = format_spec(cspec)
            res.target = cand
        elif cspec.bit_offset != best_spec.bit_offset:
            raise fail(f"field offset ambiguity: {cspec.bit_offset} != {best_spec.bit_offset} "
                       f"(candidates {res.target_spec} and {format_spec(cspec)})")
        elif val.poison != res.poison or val.new_val != res.new_val:
            raise fail(f"relocation decision ambiguity: {_decision(val.poison, val.new_val)} != "
                       f"{_decision(res.poison, res.new_val)} (candidates {res.target_spec} and "
                       f"{format_spec(cspec)})")
        kept.append(cand)
    res.matches = len(kept)
    if kept:
        cands[:] = kept  # prune the shared candidate list, as libbpf does
    else:
        if log is not None:
            log(f"{rpfx}no matching targets found")
        try:
            val = calc_relo(kind, local_spec, None)
        except CoreFail as e:
            raise fail(e.message, e.errno) from None
        _fill(res, val)
    return res


def _error(rpfx: str, insn_index: int, what: str, reason: str, relo_index: int, kind: "CoreReloKind | int",
           type_id: int, errno: str) -> CoreError:
    return CoreError(f"{rpfx}insn #{insn_index}: {what}: {reason}", reason=reason, relo_index=relo_index,
                     insn_index=insn_index, kind=kind, type_id=type_id, errno=errno)


def _decision(poison: bool, val: int) -> str:
    return f"{'failure' if poison else 'success'} {val}"


def _fill(res: CoreResult, val: object) -> None:
    for k in ("orig_val", "new_val", "poison", "validate", "fail_memsz_adjust", "orig_sz", "new_sz",
              "orig_type_id", "new_type_id"):
        setattr(res, k, getattr(val, k))


# ---------------------------------------------------------------------- patching
def poison_insn(label: Optional[str] = None) -> Instruction:
    """``call 0xbad2310``: what libbpf substitutes for an instruction whose relocation failed."""
    insn = Instruction(_BPF_CALL, 0, 0, 0, POISON_IMM)
    insn.label = label
    return insn


def _s32(v: int) -> int:
    v &= _M32
    return v - (1 << 32) if v & 0x80000000 else v


def patch_insn(insn: Instruction, res: CoreResult, *, log: Log = None, prog_name: str = ""
               ) -> list[Instruction]:
    """``bpf_core_patch_insn``: the instruction(s) replacing ``insn`` (two for a poisoned
    ``lddw``; ``insn`` itself is not modified). Raises :class:`CoreError`."""
    pfx = f"prog '{prog_name}': " if prog_name else ""
    rpfx = f"{pfx}relo #{res.relo_index}: "
    idx = res.insn_index
    what = res.local_spec or f"<{relo_kind_str(res.kind)}> [{res.type_id}]"

    def fail(reason: str, line: str, errno: str = "EINVAL") -> CoreError:
        # ``line`` is libbpf's warning, ``reason`` the same without the insn number
        if log is not None:
            log(f"{rpfx}{line}")
        return _error(rpfx, idx, what, reason, res.relo_index, res.kind, res.type_id, errno)

    def poison() -> list[Instruction]:
        out = [poison_insn(insn.label)]
        if log is not None:
            log(f"{rpfx}substituting insn #{idx} w/ invalid insn")
        if insn.opcode == LDDW:
            # poison the second half too, so the verifier doesn't complain about "unknown opcode 00"
            out.append(poison_insn())
            if log is not None:
                log(f"{rpfx}substituting insn #{idx + 1} w/ invalid insn")
        return out

    if res.poison:
        return poison()
    orig_val, new_val = res.orig_val & _M64, res.new_val & _M64
    cls = insn.opcode & 0x07
    if cls in (0x04, 0x07):  # ALU, ALU64
        if insn.opcode & 0x08:  # BPF_X
            r = "an ALU instruction with a register source can't be relocated"
            raise fail(r, f"insn #{idx}: {r}")
        if res.validate and (insn.imm & _M64) != orig_val:
            raise fail(f"unexpected value {insn.imm} in ALU/ALU64 imm, expected {orig_val} (-> {new_val})",
                       f"unexpected insn #{idx} (ALU/ALU64) value: got {insn.imm}, exp {orig_val} -> {new_val}")
        new = insn.copy()
        new.imm = _s32(new_val)
        if log is not None:
            log(f"{rpfx}patched insn #{idx} (ALU/ALU64) imm {insn.imm & _M64} -> {new_val}")
        return [new]
    if cls in (0x01, 0x02, 0x03):  # LDX, ST, STX
        if res.validate and (insn.off & _M64) != orig_val:
            raise fail(f"unexpected value {insn.off} in LDX/ST/STX off, expected {orig_val} (-> {new_val})",
                       f"unexpected insn #{idx} (LDX/ST/STX) value: got {insn.off}, exp {orig_val} -> {new_val}")
        if new_val > _SHRT_MAX:
            raise fail(f"field offset {new_val} does not fit in the 16-bit LDX/ST/STX offset",
                       f"insn #{idx} (LDX/ST/STX) value too big: {new_val}", "ERANGE")
        if res.fail_memsz_adjust:
            if log is not None:
                log(f"{rpfx}insn #{idx} (LDX/ST/STX) accesses field incorrectly. Make sure you are accessing "
                    "pointers, unsigned integers, or fields of matching type and size.")
            return poison()
        new = insn.copy()
        new.off = new_val
        if log is not None:
            log(f"{rpfx}patched insn #{idx} (LDX/ST/STX) off {insn.off & _M64} -> {new_val}")
        if res.new_sz != res.orig_sz:
            have = _SIZE_BYTES[insn.opcode & 0x18]
            if have != res.orig_sz:
                raise fail(f"LDX/ST/STX accesses {have} bytes, expected the field size {res.orig_sz}",
                           f"insn #{idx} (LDX/ST/STX) unexpected mem size: got {have}, exp {res.orig_sz}")
            code = _BYTES_SIZE.get(res.new_sz)
            if code is None:
                raise fail(f"kernel field size {res.new_sz} is not a valid LDX/ST/STX size",
                           f"insn #{idx} (LDX/ST/STX) invalid new mem size: {res.new_sz}")
            new.opcode = (insn.opcode & 0xE0) | code | cls
            if log is not None:
                log(f"{rpfx}patched insn #{idx} (LDX/ST/STX) mem_sz {res.orig_sz} -> {res.new_sz}")
        return [new]
    if cls == 0x00:  # LD
        if insn.opcode != LDDW or insn.src != 0 or insn.off != 0:
            r = "LDIMM64 has unexpected form"
            raise fail(r, f"insn #{idx} (LDIMM64) has unexpected form")
        imm = insn.imm & _M64
        if res.validate and imm != orig_val:
            raise fail(f"unexpected value {imm} in LDIMM64 imm64, expected {orig_val} (-> {new_val})",
                       f"unexpected insn #{idx} (LDIMM64) value: got {imm}, exp {orig_val} -> {new_val}")
        new = insn.copy()
        new.imm = new_val
        if log is not None:
            log(f"{rpfx}patched insn #{idx} (LDIMM64) imm64 {imm} -> {new_val}")
        return [new]
    line = (f"trying to relocate unrecognized insn #{idx}, code:{insn.opcode:#x}, src:{insn.src:#x}, "
            f"dst:{insn.dst:#x}, off:{insn.off & 0xFFFF:#x}, imm:{insn.imm & _M32:#x}")
    try:
        text = insn.text()
    except Exception:  # noqa: BLE001 - only for the message
        text = "?"
    raise fail(f"can't relocate instruction {text!r} (code {insn.opcode:#x})", line)


def relocate(insns: Sequence[Instruction], relos: Iterable[tuple], local: "BTF", targets: Sequence["BTF"], *,
             log: Log = None, prog_name: str = "", cache: Optional[CoreCache] = None,
             results: Optional[list[CoreResult]] = None) -> list[Instruction]:
    """Apply CO-RE relocations to one program; returns the new instruction list.

    ``relos``: ``(slot, CoreRelo)`` pairs, ``slot`` being the instruction index as the
    kernel counts it (byte offset // 8; an ``lddw`` takes two slots); a third element,
    if present, is the relocation's number in logs and errors (libbpf numbers them per
    ELF section; default: position in ``relos``). ``local``: the
    object's BTF; ``targets``: ``[vmlinux, module BTFs...]``. ``log`` receives one
    line per decision (libbpf's debug output); ``prog_name`` prefixes those lines and
    error messages. ``cache``: a :class:`CoreCache` shared by all programs of an
    object; ``results`` (a list) receives one :class:`CoreResult` per relocation.

    The input is not modified. Slot numbering is preserved: a poisoned ``lddw``
    becomes two ``call 0xbad2310`` list elements. Raises :class:`CoreError`.
    """
    if cache is None:
        cache = CoreCache()
    slot_to_elem: dict[int, int] = {}
    pos = 0
    for i, ins in enumerate(insns):
        slot_to_elem[pos] = i
        pos += 2 if ins.opcode == LDDW else 1
    out: list[Instruction] = list(insns)
    extra: dict[int, Instruction] = {}  # element index -> second call of a poisoned lddw
    for n, item in enumerate(relos):
        slot, relo = item[0], item[1]
        ridx = item[2] if len(item) > 2 else n
        e = slot_to_elem.get(slot)
        if e is None:
            where = "the middle of an lddw" if 0 <= slot < pos else f"past the end ({pos} slots)"
            rpfx = f"prog '{prog_name}': relo #{ridx}: " if prog_name else f"relo #{ridx}: "
            reason = f"relocation points into {where}"
            if log is not None:
                log(f"{rpfx}insn #{slot}: {reason}")
            raise _error(rpfx, slot, f"<{relo_kind_str(relo.kind)}> {_type_desc(local, relo.type_id)} + "
                         f"{relo.access_str}", reason, ridx, relo.kind, relo.type_id, "EINVAL")
        res = resolve_relo(relo, local, targets, relo_index=ridx, insn_index=slot, cache=cache, log=log,
                           prog_name=prog_name)
        if results is not None:
            results.append(res)
        new = patch_insn(out[e], res, log=log, prog_name=prog_name)
        if res.fail_memsz_adjust and not res.poison and new[0].opcode == _BPF_CALL and new[0].imm == POISON_IMM:
            res.poison = True  # the load/store was poisoned after all
        out[e] = new[0]
        if len(new) > 1:
            extra[e] = new[1]
    if not extra:
        return out
    final: list[Instruction] = []
    for i, ins in enumerate(out):
        final.append(ins)
        if i in extra:
            final.append(extra[i])
    return final
