"""USDT (SystemTap SDT) probes: note parsing, argument specs, and attachment as uprobes.

A USDT probe site is a ``nop`` described by a ``.note.stapsdt`` note (type 3,
owner "stapsdt"): its address, the ``.stapsdt.base`` address at link time
(prelink adjustment), an optional semaphore (``.probes``; the kernel bumps it
while a uprobe with ``ref_ctr_offset`` exists, 4.20+), provider, name and an
argument string such as ``-4@%eax 8@-8(%rbp) -4@$5`` (x86-64) or
``8@x0 4@[sp, 12]`` (arm64).

libbpf's ``usdt.bpf.h`` reads arguments through two maps: ``__bpf_usdt_specs``
(ARRAY, spec id → ``struct __bpf_usdt_spec``, 208 bytes, encoded by
:meth:`UsdtSpec.encode`) and ``__bpf_usdt_ip_to_spec_id`` (HASH, ip → spec
id; only for kernels without BPF cookies). :func:`attach_usdt` attaches
every site as a uprobe whose BPF cookie is the site's spec id (5.15+), and
fills ``specs_map`` when given. Object-loader support for ``usdt.bpf.h``
(creating those maps from an ELF) is not wired yet: pass the maps yourself,
or read the cookie (= spec id) with ``bpf_get_attach_cookie`` and decode
arguments with :attr:`UsdtLink.specs`.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import struct
import threading
from typing import Any

from ..errors import Error, FormatError
from . import _elfsym
from .link import Link, MultiLink
from .uprobe import attach_uprobe

__all__ = ["UsdtNote", "UsdtArg", "UsdtArgType", "UsdtSpec", "UsdtLink", "parse_usdt_notes", "parse_usdt_args",
           "parse_usdt_arg", "attach_usdt", "USDT_MAX_ARG_CNT", "USDT_SPEC_SIZE", "USDT_MAX_SPEC_CNT"]

USDT_MAX_ARG_CNT = 12
USDT_ARG_SPEC_SIZE = 16
USDT_SPEC_SIZE = 208  # sizeof(struct __bpf_usdt_spec)
USDT_MAX_SPEC_CNT = 256  # BPF_USDT_MAX_SPEC_CNT default


class UsdtArgType(enum.IntEnum):
    """enum __bpf_usdt_arg_type."""

    CONST = 0
    REG = 1
    REG_DEREF = 2
    SIB = 3  # base + index*scale + disp (libbpf 1.7+)


# struct pt_regs offsets (x86-64) and struct user_pt_regs (arm64), as usdt.bpf.h reads them.
_X86_OFF = {"r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48, "r10": 56, "r9": 64, "r8": 72,
            "ax": 80, "cx": 88, "dx": 96, "si": 104, "di": 112, "ip": 128, "sp": 152}
_X86_ALIASES: dict[str, str] = {"rip": "ip"}
for _r in ("ax", "bx", "cx", "dx"):
    _X86_ALIASES.update({"r" + _r: _r, "e" + _r: _r, _r: _r, _r[0] + "l": _r})
for _r in ("si", "di", "bp", "sp"):
    _X86_ALIASES.update({"r" + _r: _r, "e" + _r: _r, _r: _r, _r + "l": _r})
for _n in range(8, 16):
    _X86_ALIASES.update({f"r{_n}": f"r{_n}", f"r{_n}d": f"r{_n}", f"r{_n}w": f"r{_n}", f"r{_n}b": f"r{_n}"})


def _reg_off(arch: str, reg: str) -> int:
    reg = reg.strip().lower()
    if arch == "x86_64":
        base = _X86_ALIASES.get(reg.lstrip("%"))
        if base is None:
            raise FormatError(f"unknown x86-64 register {reg!r} in USDT argument")
        return _X86_OFF[base]
    if arch == "aarch64":
        m = re.fullmatch(r"[xw](\d+)", reg)
        if m and int(m.group(1)) < 31:
            return 8 * int(m.group(1))
        if reg == "sp":
            return 31 * 8
        raise FormatError(f"unknown arm64 register {reg!r} in USDT argument")
    raise Error(f"USDT arguments on {arch} are not supported (x86_64 and aarch64 are)")


def _arch(arch: str | None) -> str:
    a = arch or os.uname().machine
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(a, a)


@dataclasses.dataclass(frozen=True)
class UsdtArg:
    """One decoded argument (a ``struct __bpf_usdt_arg_spec``)."""

    type: UsdtArgType
    val_off: int = 0
    reg_off: int = 0
    size: int = 8
    signed: bool = False
    idx_reg_off: int = 0
    scale: int = 1
    text: str = dataclasses.field(default="", compare=False)

    @property
    def bitshift(self) -> int:
        return 64 - self.size * 8

    def encode(self) -> bytes:
        sb = {1: 0, 2: 1, 4: 2, 8: 3}[self.scale]
        packed = (int(self.type) & 0xFF) | ((self.idx_reg_off & 0xFFF) << 8) | (sb << 20)
        return struct.pack("<QIhbb", self.val_off & 0xFFFFFFFFFFFFFFFF, packed, self.reg_off, int(self.signed),
                           self.bitshift)

    @classmethod
    def decode(cls, raw: bytes) -> "UsdtArg":
        val_off, packed, reg_off, signed, bitshift = struct.unpack("<QIhbb", raw[:USDT_ARG_SPEC_SIZE])
        t = UsdtArgType(packed & 0xFF)
        if val_off >= 1 << 63:
            val_off -= 1 << 64
        return cls(type=t, val_off=val_off, reg_off=reg_off, size=(64 - bitshift) // 8, signed=bool(signed),
                   idx_reg_off=(packed >> 8) & 0xFFF, scale=1 << ((packed >> 20) & 0xF))


_SZ = r"\s*(-?\d+)\s*@\s*"
_X86_PATTERNS = [
    (re.compile(_SZ + r"(-?(?:0x[0-9a-f]+|\d+))?\(\s*%(\w+)\s*,\s*%(\w+)\s*(?:,\s*(\d+)\s*)?\)\s*$", re.I), "sib"),
    (re.compile(_SZ + r"(-?(?:0x[0-9a-f]+|\d+))?\(\s*%(\w+)\s*\)\s*$", re.I), "deref"),
    (re.compile(_SZ + r"%(\w+)\s*$", re.I), "reg"),
    (re.compile(_SZ + r"\$(-?(?:0x[0-9a-f]+|\d+))\s*$", re.I), "const"),
]
_ARM_PATTERNS = [
    (re.compile(_SZ + r"\[\s*(\w+)\s*,\s*#?(-?(?:0x[0-9a-f]+|\d+))\s*\]\s*$", re.I), "deref_off"),
    (re.compile(_SZ + r"\[\s*(\w+)\s*\]\s*$", re.I), "deref0"),
    (re.compile(_SZ + r"#?(-?(?:0x[0-9a-f]+|\d+))\s*$", re.I), "const"),
    (re.compile(_SZ + r"(\w+)\s*$", re.I), "reg"),
]


def parse_usdt_arg(text: str, arch: str | None = None) -> UsdtArg:
    """Decode one argument spec (``-4@%eax``, ``8@-8(%rbp)``, ``-4@$5``, ``8@x0``, ``4@[sp, 12]``)."""
    a = _arch(arch)
    pats = _X86_PATTERNS if a == "x86_64" else _ARM_PATTERNS if a == "aarch64" else None
    if pats is None:
        raise Error(f"USDT arguments on {a} are not supported (x86_64 and aarch64 are)")
    for rx, kind in pats:
        m = rx.match(text)
        if not m:
            continue
        sz = int(m.group(1))
        size, signed = abs(sz), sz < 0
        if size not in (1, 2, 4, 8):
            raise FormatError(f"USDT argument {text!r}: bad size {sz}")
        g = m.groups()[1:]
        base = UsdtArg(UsdtArgType.CONST, size=size, signed=signed, text=text.strip())
        rep = dataclasses.replace
        if kind == "const":
            return rep(base, val_off=int(g[0], 0))
        if kind == "reg":
            return rep(base, type=UsdtArgType.REG, reg_off=_reg_off(a, g[0]))
        if kind == "deref":
            return rep(base, type=UsdtArgType.REG_DEREF, val_off=int(g[0], 0) if g[0] else 0,
                       reg_off=_reg_off(a, g[1]))
        if kind == "deref_off":
            return rep(base, type=UsdtArgType.REG_DEREF, val_off=int(g[1], 0), reg_off=_reg_off(a, g[0]))
        if kind == "deref0":
            return rep(base, type=UsdtArgType.REG_DEREF, reg_off=_reg_off(a, g[0]))
        scale = int(g[3]) if g[3] else 1
        if scale not in (1, 2, 4, 8):
            raise FormatError(f"USDT argument {text!r}: bad scale {scale}")
        return rep(base, type=UsdtArgType.SIB, val_off=int(g[0], 0) if g[0] else 0, reg_off=_reg_off(a, g[1]),
                   idx_reg_off=_reg_off(a, g[2]), scale=scale)
    raise FormatError(f"cannot parse USDT argument {text!r} for {a}")


def _split_args(args: str, arch: str) -> list[str]:
    if arch == "aarch64":  # "4@[sp, 12]" has a space inside brackets
        out, depth, cur = [], 0, ""
        for ch in args:
            depth += ch == "["
            depth -= ch == "]"
            if ch.isspace() and depth == 0:
                if cur:
                    out.append(cur)
                cur = ""
            else:
                cur += ch
        return out + ([cur] if cur else [])
    return args.split()


def parse_usdt_args(args: str, arch: str | None = None) -> list[UsdtArg]:
    """Decode a whole argument string (at most 12 arguments, as usdt.bpf.h supports)."""
    a = _arch(arch)
    parts = _split_args(args.strip(), a)
    if len(parts) > USDT_MAX_ARG_CNT:
        raise FormatError(f"USDT probe has {len(parts)} arguments; at most {USDT_MAX_ARG_CNT} are supported")
    return [parse_usdt_arg(p, a) for p in parts]


@dataclasses.dataclass(frozen=True)
class UsdtSpec:
    """``struct __bpf_usdt_spec``: the decoded arguments plus the user's cookie (``bpf_usdt_cookie()``)."""

    args: tuple[UsdtArg, ...] = ()
    cookie: int = 0

    def encode(self) -> bytes:
        if len(self.args) > USDT_MAX_ARG_CNT:
            raise FormatError(f"at most {USDT_MAX_ARG_CNT} USDT arguments")
        body = b"".join(a.encode() for a in self.args).ljust(USDT_MAX_ARG_CNT * USDT_ARG_SPEC_SIZE, b"\0")
        return body + struct.pack("<Qh6x", self.cookie & 0xFFFFFFFFFFFFFFFF, len(self.args))

    @classmethod
    def decode(cls, raw: bytes) -> "UsdtSpec":
        if len(raw) < USDT_SPEC_SIZE:
            raise FormatError(f"USDT spec needs {USDT_SPEC_SIZE} bytes, got {len(raw)}")
        cookie, cnt = struct.unpack_from("<Qh", raw, USDT_MAX_ARG_CNT * USDT_ARG_SPEC_SIZE)
        args = tuple(UsdtArg.decode(raw[i * 16:(i + 1) * 16]) for i in range(cnt))
        return cls(args=args, cookie=cookie)


@dataclasses.dataclass(frozen=True)
class UsdtNote:
    """One probe site. ``ip_offset``/``sema_offset`` are file offsets (uprobe offset / ref_ctr_offset)."""

    provider: str
    name: str
    pc: int
    base: int
    semaphore: int
    args: str
    abs_ip: int
    ip_offset: int
    sema_offset: int

    def spec(self, cookie: int = 0, arch: str | None = None) -> UsdtSpec:
        return UsdtSpec(tuple(parse_usdt_args(self.args, arch)), cookie)


def _segment_offset(elf: Any, vaddr: int, *, exec_only: bool) -> int | None:
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_LOAD":
            continue
        if exec_only and not seg["p_flags"] & 1:
            continue
        if seg["p_vaddr"] <= vaddr < seg["p_vaddr"] + seg["p_memsz"]:
            return int(vaddr - seg["p_vaddr"] + seg["p_offset"])
    return None


def parse_usdt_notes(binary: str) -> list[UsdtNote]:
    """All USDT sites of ``binary`` (path or library name), with prelink-adjusted file offsets."""
    path = _elfsym.resolve_binary(binary)
    elf = _elfsym._open_elf(path)  # noqa: SLF001 - shared helper of this package
    try:
        sec = elf.get_section_by_name(".note.stapsdt")
        if sec is None:
            return []
        base_sec = elf.get_section_by_name(".stapsdt.base")
        base_addr = int(base_sec["sh_addr"]) if base_sec is not None else 0
        is64 = elf.elfclass == 64
        endian = "<" if elf.little_endian else ">"
        asz = 8 if is64 else 4
        data = sec.data()
        out: list[UsdtNote] = []
        off = 0
        while off + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from(endian + "III", data, off)
            off += 12
            owner = data[off:off + namesz].rstrip(b"\0")
            off += (namesz + 3) & ~3
            desc = data[off:off + descsz]
            off += (descsz + 3) & ~3
            if owner != b"stapsdt" or ntype != 3 or len(desc) < 3 * asz:
                continue
            pc, base, sema = struct.unpack_from(endian + ("QQQ" if is64 else "III"), desc, 0)
            strs = desc[3 * asz:].split(b"\0")
            if len(strs) < 3:
                raise FormatError(f"{path}: malformed .note.stapsdt entry")
            provider, name, args = (s.decode(errors="replace") for s in strs[:3])
            abs_ip = pc + (base_addr - base if base_addr and base else 0)
            ip_off = _segment_offset(elf, abs_ip, exec_only=True)
            if ip_off is None:
                raise FormatError(f"{path}: USDT {provider}:{name} at 0x{abs_ip:x} is not in an executable segment")
            sema_off = 0
            if sema:
                so = _segment_offset(elf, sema, exec_only=False)
                if so is None:
                    raise FormatError(f"{path}: USDT {provider}:{name} semaphore 0x{sema:x} is not in a segment")
                sema_off = so
            out.append(UsdtNote(provider, name, pc, base, sema, args, abs_ip, ip_off, sema_off))
        return out
    finally:
        elf.stream.close()


class _SpecIds:
    """Spec id allocator per specs map (libbpf keeps a free list per object)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[int, set[int]] = {}

    def alloc(self, key: int, n: int) -> list[int]:
        with self._lock:
            used = self._used.setdefault(key, set())
            free = [i for i in range(USDT_MAX_SPEC_CNT) if i not in used][:n]
            if len(free) < n:
                raise Error(f"too many USDT specs (max {USDT_MAX_SPEC_CNT} per specs map)")
            used.update(free)
            return free

    def release(self, key: int, ids: list[int]) -> None:
        with self._lock:
            self._used.get(key, set()).difference_update(ids)


_SPEC_IDS = _SpecIds()


class UsdtLink(MultiLink):
    """All sites of one USDT probe (a uprobe per site); ``specs`` maps spec id (= BPF cookie) → :class:`UsdtSpec`.

    Minimum kernel 5.15 (uprobe bpf_links carrying the cookie); ``notes`` are
    the probe's ``.note.stapsdt`` entries. Closing it detaches every site and
    frees its spec ids.
    """

    def __init__(self, links: list[Link], *, kind: str, target: str, specs: dict[int, UsdtSpec],
                 notes: list[UsdtNote], map_key: int) -> None:
        super().__init__(links, kind=kind, target=target)
        self.specs = specs
        self.notes = notes
        self._map_key = map_key

    def _release(self) -> None:
        try:
            super()._release()
        finally:
            _SPEC_IDS.release(self._map_key, list(self.specs))


def attach_usdt(prog: Any, binary: str, provider: str, name: str, *, pid: int | None = None, cookie: int = 0,
                specs_map: Any = None, ip_map: Any = None, arch: str | None = None) -> UsdtLink:
    """Attach ``prog`` (KPROBE type) to every site of USDT ``provider:name`` in ``binary``.

    Each site becomes a uprobe (with the semaphore as ``ref_ctr_offset``)
    whose BPF cookie is its spec id; identical argument specs share an id.
    With ``specs_map`` (the program's ``__bpf_usdt_specs`` array) the encoded
    specs are written to it, and ``ip_map`` (``__bpf_usdt_ip_to_spec_id``)
    gets link-time ip → spec id entries. Needs Linux 5.15+ (cookies).
    """
    notes = [n for n in parse_usdt_notes(binary) if n.provider == provider and n.name == name]
    path = _elfsym.resolve_binary(binary)
    if not notes:
        raise _elfsym.SymbolNotFoundError(f"USDT {provider}:{name}", path, "no such .note.stapsdt probe")
    # Parse everything before touching the kernel: a bad spec must not leave half-attached sites.
    uniq: dict[str, UsdtSpec] = {}
    for n in notes:
        if n.args not in uniq:
            uniq[n.args] = n.spec(cookie, arch)
    map_key = int(getattr(specs_map, "id", 0) or 0) if specs_map is not None else 0
    ids = _SPEC_IDS.alloc(map_key, len(uniq))
    id_of = dict(zip(uniq, ids))
    specs = {id_of[a]: s for a, s in uniq.items()}
    links: list[Link] = []
    try:
        if specs_map is not None:
            for sid, s in specs.items():
                specs_map[struct.pack("<I", sid)] = s.encode()
        for n in notes:
            sid = id_of[n.args]
            if ip_map is not None:
                ip_map[struct.pack("<q", n.abs_ip)] = struct.pack("<I", sid)
            links.append(attach_uprobe(prog, path, None, offset=n.ip_offset, pid=pid, ref_ctr_offset=n.sema_offset,
                                       cookie=sid))
    except BaseException:
        for lk in links:
            lk.close()
        _SPEC_IDS.release(map_key, ids)
        raise
    return UsdtLink(links, kind="usdt", target=f"{path}:{provider}:{name}", specs=specs, notes=notes,
                    map_key=map_key)
