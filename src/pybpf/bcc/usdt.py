"""BCC's USDT API (``bcc.usdt``) on pybpf's USDT support (:mod:`pybpf.links.usdt`).

::

    from pybpf.bcc import BPF, USDT

    u = USDT(pid=1234)                       # or USDT(path="/usr/bin/python3"), or both
    u.enable_probe("function__entry", "trace_entry")   # or "provider:name"
    b = BPF(text='''
    int trace_entry(struct pt_regs *ctx) {
        u64 addr = 0; char name[64] = {};
        bpf_usdt_readarg(2, ctx, &addr);                 // 1-based argument index
        bpf_usdt_readarg_p(2, ctx, name, sizeof(name));  // argument is a user pointer
        ...
    }''', usdt_contexts=[u])

A context finds the probes (``.note.stapsdt`` notes) of a binary or library
(``path``: a path, a name on PATH, or a library name such as ``"c"``), or of
every executable mapping of process ``pid`` (with ``path`` too: of that
binary only); ``pid`` also limits the probes to that process.  When
``BPF(..., usdt_contexts=[u])`` is built, every enabled probe is attached to
its function with :meth:`pybpf.Program.attach_usdt`: one uprobe per site,
semaphores raised by the kernel (``ref_ctr_offset``) for as long as the probe
is attached, argument specs written to the object's ``__bpf_usdt_*`` maps.
In C, ``bpf_usdt_readarg``/``bpf_usdt_readarg_p`` come from ``<bcc_usdt.h>``.

Differences from BCC: no C is generated (``get_text()`` returns a comment
describing the enabled probes); probes with semaphores need no ``pid``; a
probe may be enabled for several functions; ``bpf_usdt_readarg`` accepts any
1/2/4/8-byte destination; sites of :meth:`USDT.enumerate_active_probes` attached by
hand with ``BPF.attach_uprobe`` fire, but their functions cannot read arguments
(only ``usdt_contexts`` fill the argument specs).  Errors are :class:`USDTException`,
a :class:`pybpf.errors.Error`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from typing import Any, Optional, Union

from ..errors import Error, FormatError
from ..links._elfsym import resolve_binary
from ..links.usdt import UsdtArg, UsdtArgType, UsdtNote, parse_usdt_args, parse_usdt_notes
from ..links.usdt import _X86_OFF, _arch  # noqa: PLC2701 - pt_regs field names, as BCC prints registers
from ._attach import to_str

__all__ = ["USDT", "USDTException", "USDTProbe", "USDTProbeLocation", "USDTProbeArgument",
           "BCC_USDT_ARGUMENT_FLAGS"]

StrOrBytes = Union[str, bytes]


class USDTException(Error):
    """A USDT context could not be built, or a probe not found or enabled (BCC's exception name)."""


class BCC_USDT_ARGUMENT_FLAGS:  # noqa: N801 - BCC's name
    """Which fields of a :class:`USDTProbeArgument` are set (its ``valid`` bit mask)."""

    NONE = 0x0
    CONSTANT = 0x1
    DEREF_OFFSET = 0x2
    DEREF_IDENT = 0x4
    BASE_REGISTER_NAME = 0x8
    INDEX_REGISTER_NAME = 0x10
    SCALE = 0x20


_X86_NAMES = {off: name for name, off in _X86_OFF.items()}


def _reg_name(reg_off: int, arch: str) -> bytes:
    if arch == "aarch64":
        return b"sp" if reg_off == 31 * 8 else f"regs[{reg_off // 8}]".encode()
    return _X86_NAMES.get(reg_off, f"pt_regs+{reg_off}").encode()


def _nargs(note: UsdtNote) -> int:
    return note.args.count("@")  # one "size@location" per argument, parseable or not


def _args(note: UsdtNote, arch: str) -> list[UsdtArg]:
    try:
        return parse_usdt_args(note.args, arch)
    except Error as e:
        raise USDTException(f"USDT {note.provider}:{note.name}: {e}") from None


def _ctype(arg: UsdtArg) -> str:
    return f"{'' if arg.signed else 'u'}int{arg.size * 8}_t"


class USDTProbeArgument:
    """One argument of one probe site: ``size``, ``signed``, ``valid`` and the fields it flags."""

    def __init__(self, arg: UsdtArg, arch: str) -> None:
        F = BCC_USDT_ARGUMENT_FLAGS
        self.size = arg.size
        self.signed = arg.signed
        self.valid = F.NONE
        if arg.type == UsdtArgType.CONST:
            self.valid = F.CONSTANT
            self.constant = arg.val_off
            return
        self.valid = F.BASE_REGISTER_NAME
        self.base_register_name = _reg_name(arg.reg_off, arch)
        if arg.type in (UsdtArgType.REG_DEREF, UsdtArgType.SIB):
            self.valid |= F.DEREF_OFFSET
            self.deref_offset = arg.val_off
        if arg.type == UsdtArgType.SIB:
            self.valid |= F.INDEX_REGISTER_NAME | F.SCALE
            self.index_register_name = _reg_name(arg.idx_reg_off, arch)
            self.scale = arg.scale

    def _format(self) -> str:
        F = BCC_USDT_ARGUMENT_FLAGS
        if self.valid & F.CONSTANT:
            return "%d" % self.constant
        base = self.base_register_name.decode()
        if not self.valid & F.DEREF_OFFSET:
            return base
        index = ""
        if self.valid & F.INDEX_REGISTER_NAME:
            index = f" + {self.index_register_name.decode()} * {self.scale}"
        sign = "+" if self.deref_offset >= 0 else "-"
        return f"*({base} {sign} {abs(self.deref_offset)}{index})"

    def __str__(self) -> str:
        return "%d %s bytes @ %s" % (self.size, "signed  " if self.signed else "unsigned", self._format())


class USDTProbeLocation:
    """One site of a probe: ``address`` (its link-time address), ``bin_path`` (bytes)."""

    def __init__(self, probe: "USDTProbe", index: int, path: str, note: UsdtNote) -> None:
        self.probe = probe
        self.index = index
        self.address = note.abs_ip
        self.bin_path = path.encode()
        self.num_arguments = _nargs(note)
        self._note = note

    def get_argument(self, index: int) -> USDTProbeArgument:
        if not 0 <= index < self.num_arguments:
            raise USDTException(f"USDT {self.probe.short_name()} location {self.index} has no argument {index} "
                                f"(it has {self.num_arguments})")
        return USDTProbeArgument(_args(self._note, self.probe._arch)[index], self.probe._arch)  # noqa: SLF001

    def __str__(self) -> str:
        return "%s 0x%x" % (self.bin_path.decode(), self.address)


class USDTProbe:
    """A probe (``provider:name``) and its sites, as :meth:`USDT.enumerate_probes` lists them.

    ``provider``, ``name`` and ``bin_path`` are bytes (as in BCC); ``semaphore`` is the
    semaphore's address (0: none).
    """

    def __init__(self, context: "USDT", provider: str, name: str, sites: list[tuple[str, UsdtNote]]) -> None:
        self.context = context
        self._arch = context._arch  # noqa: SLF001
        self._sites = sites
        self.provider = provider.encode()
        self.name = name.encode()
        self.bin_path = sites[0][0].encode()
        self.semaphore = sites[0][1].semaphore
        self.semaphore_offset = sites[0][1].sema_offset
        self.num_locations = len(sites)
        self.num_arguments = _nargs(sites[0][1])

    def short_name(self) -> str:
        return f"{self.provider.decode()}:{self.name.decode()}"

    def get_location(self, index: int) -> USDTProbeLocation:
        if not 0 <= index < self.num_locations:
            raise USDTException(f"USDT {self.short_name()} has no location {index} (it has {self.num_locations})")
        path, note = self._sites[index]
        return USDTProbeLocation(self, index, path, note)

    def __str__(self) -> str:
        return "%s [sema 0x%x]" % (self.short_name(), self.semaphore)


@dataclasses.dataclass(frozen=True)
class _Enabled:
    provider: str
    name: str
    fn_name: str
    binaries: tuple[str, ...]


class USDT:
    """The USDT probes of a binary (``path``) or a process (``pid``), and those enabled for BPF functions.

    Raises :class:`USDTException` when neither is given, the binary cannot be found or is
    not ELF, or process ``pid`` does not exist.
    """

    def __init__(self, pid: Optional[int] = None, path: Optional[StrOrBytes] = None) -> None:
        self._arch = _arch(None)
        self.pid: Optional[int] = int(pid) if pid and int(pid) != -1 else None
        self.path: Optional[str] = to_str(path) if path else None
        self._probes: dict[tuple[str, str], list[tuple[str, UsdtNote]]] = {}
        self._enabled: list[_Enabled] = []
        if self.path is not None:
            self._where = _resolve(self.path, self.pid)
            self._add(self._where, parse_errors=True)
        elif self.pid is not None:
            self._where = f"process {self.pid}"
            root = _proc_root(self.pid)
            for module in _modules(self.pid):
                self._add(root + module, parse_errors=False)
        else:
            raise USDTException("USDT needs a pid or a binary path: USDT(pid=PID) or USDT(path='/usr/bin/prog')")

    def _add(self, binary: str, *, parse_errors: bool) -> None:
        try:
            notes = parse_usdt_notes(binary)
        except (FormatError, OSError) as e:
            if parse_errors:
                raise USDTException(f"USDT: cannot read the probes of {binary}: {e}") from None
            return  # a mapping that is not (or no longer) a readable ELF file
        for n in notes:
            self._probes.setdefault((n.provider, n.name), []).append((binary, n))

    # ------------------------------------------------------------------ probes
    def _find(self, probe: StrOrBytes) -> tuple[str, str]:
        text = to_str(probe)
        provider, sep, name = text.partition(":")
        if not sep:
            provider, name = "", text
        found = [k for k in self._probes if k[1] == name and (not provider or k[0] == provider)]
        if len(found) == 1:
            return found[0]
        if found:
            raise USDTException(f"USDT probe {name!r} is ambiguous in {self._where}: name its provider, "
                                f"one of {', '.join(sorted(p for p, _ in found))} ('provider:{name}')")
        if not self._probes:
            raise USDTException(f"{self._where} has no USDT probes (no .note.stapsdt section): build it with "
                                "<sys/sdt.h> probes (e.g. --enable-dtrace / --with-dtrace)")
        have = sorted(f"{p}:{n}" for p, n in self._probes)
        more = f" and {len(have) - 10} more" if len(have) > 10 else ""
        raise USDTException(f"no USDT probe {text!r} in {self._where}; it has {', '.join(have[:10])}{more} "
                            "(list them with USDT(...).enumerate_probes())")

    def enable_probe(self, probe: StrOrBytes, fn_name: StrOrBytes) -> None:
        """Attach BPF function ``fn_name`` to ``probe`` (``"name"`` or ``"provider:name"``) when the
        module is built with ``BPF(..., usdt_contexts=[this])``."""
        provider, name = self._find(probe)
        binaries = tuple(dict.fromkeys(path for path, _ in self._probes[provider, name]))
        e = _Enabled(provider, name, to_str(fn_name), binaries)
        if e not in self._enabled:
            self._enabled.append(e)

    def enable_probe_or_bail(self, probe: StrOrBytes, fn_name: StrOrBytes) -> None:
        """:meth:`enable_probe`, or print why not and exit with status 1."""
        try:
            self.enable_probe(probe, fn_name)
        except USDTException as e:
            print(e, file=sys.stderr)
            sys.exit(1)

    def get_probe_arg_ctype(self, probe_name: StrOrBytes, arg_index: int) -> str:
        """The C type (``"int32_t"``, ``"uint64_t"``...) of argument ``arg_index`` (0-based) of a
        probe: the largest of its sites, as BCC declares it."""
        key = self._find(probe_name)
        args = []
        for _, note in self._probes[key]:
            parsed = _args(note, self._arch)
            if not 0 <= arg_index < len(parsed):
                raise USDTException(f"USDT {key[0]}:{key[1]} has no argument {arg_index} "
                                    f"(0-based; it has {len(parsed)})")
            args.append(parsed[arg_index])
        return _ctype(max(args, key=lambda a: a.size))

    def enumerate_probes(self) -> list[USDTProbe]:
        """Every probe of the context (one entry per ``provider:name``, with all its sites)."""
        return [USDTProbe(self, p, n, sites) for (p, n), sites in self._probes.items()]

    def enumerate_active_probes(self) -> list[tuple[bytes, bytes, int, int]]:
        """``(bin_path, fn_name, address, pid)`` of every site of every enabled probe (pid -1: any)."""
        out = []
        for e in self._enabled:
            for path, note in self._probes[e.provider, e.name]:
                out.append((path.encode(), e.fn_name.encode(), note.abs_ip, -1 if self.pid is None else self.pid))
        return out

    def get_text(self) -> str:
        """BCC returns the argument readers it generates; pybpf generates none (arguments are
        described at attach time), so this is a C comment listing the enabled probes."""
        lines = []
        for e in self._enabled:
            sites = self._probes[e.provider, e.name]
            try:
                args = ", ".join(_ctype(a) for a in _args(sites[0][1], self._arch)) or "none"
            except USDTException as ex:
                args = str(ex)
            lines.append(f"/* USDT {e.provider}:{e.name} -> {e.fn_name}: {len(sites)} site(s) in "
                         f"{', '.join(e.binaries)}; arguments: {args} */")
        return "\n".join(lines) + ("\n" if lines else "")

    def attach_uprobes(self, bpf: Any, attach_usdt_ignore_pid: bool = False) -> None:
        """Attach every enabled probe to its function of ``bpf`` (a :class:`pybpf.bcc.BPF`); called by
        ``BPF(..., usdt_contexts=[...])``. The links go to ``bpf.uprobe_fds``."""
        pid = None if attach_usdt_ignore_pid else self.pid
        for e in self._enabled:
            prog = bpf.load_func(e.fn_name, bpf.KPROBE).program
            for binary in e.binaries:
                key = _event_name(binary, e, pid)
                if key in bpf.uprobe_fds:
                    raise USDTException(f"USDT {e.provider}:{e.name} of {binary} is already attached to {e.fn_name}")
                bpf.uprobe_fds[key] = prog.attach_usdt(binary, e.provider, e.name, pid=pid)

    def __repr__(self) -> str:
        return f"<USDT {self._where}: {len(self._probes)} probes, {len(self._enabled)} enabled>"


def _event_name(binary: str, e: _Enabled, pid: Optional[int]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", binary)
    return f"usdt_{base}_{e.provider}_{e.name}_{e.fn_name}" + (f"_bcc_{pid}" if pid is not None else "")


def _proc_root(pid: int) -> str:
    """``/proc/PID/root`` if process ``pid`` sees another mount namespace (its paths are not ours), else ""."""
    try:
        theirs = os.stat(f"/proc/{pid}/ns/mnt").st_ino
    except FileNotFoundError:
        raise USDTException(f"USDT: no process {pid}") from None
    except OSError as e:
        raise USDTException(f"USDT: cannot inspect process {pid}: {e.strerror}") from None
    return "" if theirs == os.stat("/proc/self/ns/mnt").st_ino else f"/proc/{pid}/root"


def _modules(pid: int) -> list[str]:
    """The files process ``pid`` maps executable (its binary and shared libraries), in map order."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise USDTException(f"USDT: no process {pid}") from None
    except OSError as e:
        raise USDTException(f"USDT: cannot read the mappings of process {pid}: {e.strerror}") from None
    out: dict[str, None] = {}
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) == 6 and "x" in parts[1] and parts[5].startswith("/") and not parts[5].endswith(" (deleted)"):
            out[parts[5]] = None
    return list(out)


def _resolve(path: str, pid: Optional[int]) -> str:
    """A binary as BCC finds it: a path, a program on PATH, or a library (``"c"``, ``"libc.so.6"``);
    under ``/proc/PID/root`` when process ``pid`` lives in another mount namespace."""
    root = _proc_root(pid) if pid is not None else ""
    if root and path.startswith("/"):
        if not os.path.isfile(root + path):
            raise USDTException(f"USDT: binary {path!r} does not exist in the mount namespace of process {pid}")
        return root + path
    for name in [path] if "/" in path or path.startswith("lib") else [path, "lib" + path]:
        try:
            return root + resolve_binary(name)
        except (FileNotFoundError, Error):
            continue
    raise USDTException(f"USDT: cannot find binary or library {path!r} (not a file, not on PATH, not in "
                        "ld.so.cache); give its path")
