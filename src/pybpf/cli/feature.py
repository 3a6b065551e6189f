"""``pybpf feature probe [kernel] [macros [prefix PREFIX]]`` and ``feature list_builtins``."""

from __future__ import annotations

import gzip
import os

from .. import features
from .._sys.consts import AttachType, LinkType, MapType, ProgramType
from ._common import Context, need_root, usage_error

CONFIG_OPTIONS = [
    "CONFIG_BPF", "CONFIG_BPF_SYSCALL", "CONFIG_HAVE_EBPF_JIT", "CONFIG_BPF_JIT", "CONFIG_BPF_JIT_ALWAYS_ON",
    "CONFIG_DEBUG_INFO_BTF", "CONFIG_DEBUG_INFO_BTF_MODULES", "CONFIG_CGROUPS", "CONFIG_CGROUP_BPF",
    "CONFIG_CGROUP_NET_CLASSID", "CONFIG_SOCK_CGROUP_DATA", "CONFIG_BPF_EVENTS", "CONFIG_KPROBE_EVENTS",
    "CONFIG_UPROBE_EVENTS", "CONFIG_TRACING", "CONFIG_FTRACE_SYSCALLS", "CONFIG_FUNCTION_ERROR_INJECTION",
    "CONFIG_BPF_KPROBE_OVERRIDE", "CONFIG_NET", "CONFIG_XDP_SOCKETS", "CONFIG_LWTUNNEL_BPF", "CONFIG_NET_ACT_BPF",
    "CONFIG_NET_CLS_BPF", "CONFIG_NET_CLS_ACT", "CONFIG_NET_SCH_INGRESS", "CONFIG_XFRM", "CONFIG_IP_ROUTE_CLASSID",
    "CONFIG_IPV6_SEG6_BPF", "CONFIG_BPF_LIRC_MODE2", "CONFIG_BPF_STREAM_PARSER", "CONFIG_NETFILTER_XT_MATCH_BPF",
    "CONFIG_BPFILTER", "CONFIG_BPFILTER_UMH", "CONFIG_TEST_BPF", "CONFIG_HZ",
]


def kernel_config() -> dict[str, str]:
    """The running kernel's config from /proc/config.gz or /boot/config-$(uname -r) (empty if neither)."""
    text = ""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        try:
            with open(f"/boot/config-{os.uname().release}") as f:
                text = f.read()
        except OSError:
            return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            k, _, v = line.partition("=")
            out[k] = v.strip('"')
    return out


def _sysctl(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _system_lines() -> list[tuple[str, tuple[str, int]]]:
    lines: list[tuple[str, tuple[str, int]]] = []
    unpriv = _sysctl("/proc/sys/kernel/unprivileged_bpf_disabled")
    if unpriv is not None:
        msg = {0: "bpf() syscall for unprivileged users is enabled",
               1: "bpf() syscall restricted to privileged users (without recovery)",
               2: "bpf() syscall restricted to privileged users (admin can change)"}.get(unpriv, f"unprivileged_bpf_disabled={unpriv}")
        lines.append((msg, ("unprivileged_bpf_disabled", unpriv)))
    jit = _sysctl("/proc/sys/net/core/bpf_jit_enable")
    if jit is not None:
        lines.append(({0: "JIT compiler is disabled", 1: "JIT compiler is enabled",
                       2: "JIT compiler is enabled with debugging traces in kernel logs"}.get(jit, f"bpf_jit_enable={jit}"),
                      ("bpf_jit_enable", jit)))
    h = _sysctl("/proc/sys/net/core/bpf_jit_harden")
    if h is not None:
        lines.append(({0: "JIT compiler hardening is disabled", 1: "JIT compiler hardening is enabled for unprivileged users",
                       2: "JIT compiler hardening is enabled for all users"}.get(h, f"bpf_jit_harden={h}"),
                      ("bpf_jit_harden", h)))
    k = _sysctl("/proc/sys/net/core/bpf_jit_kallsyms")
    if k is not None:
        lines.append(({0: "JIT compiler kallsyms exports are disabled", 1: "JIT compiler kallsyms exports are enabled for root"}.get(k, f"bpf_jit_kallsyms={k}"),
                      ("bpf_jit_kallsyms", k)))
    lim = _sysctl("/proc/sys/net/core/bpf_jit_limit")
    if lim is not None:
        lines.append((f"Global memory limit for JIT compiler for unprivileged users is {lim} bytes", ("bpf_jit_limit", lim)))
    return lines


def _probe(ctx: Context, args: list[str]) -> int:
    target = "kernel"
    macros = False
    prefix = ""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "kernel":
            target = "kernel"
        elif a == "macros":
            macros = True
        elif a == "prefix" and i + 1 < len(args):
            prefix = args[i + 1]
            i += 1
        elif a in ("full", "unprivileged"):
            pass
        else:
            raise usage_error(f"unknown probe target '{a}' (pybpf probes the running kernel)")
        i += 1
    need_root("feature probe")
    del target
    cfg = kernel_config()
    helpers = {pt: features.helpers_for(pt) for pt in ProgramType if pt != ProgramType.UNSPEC}
    prog_status = {pt: features.program_type_status(pt) for pt in ProgramType if pt != ProgramType.UNSPEC}
    map_status = {mt: features.has_map_type(mt) for mt in MapType if mt != MapType.UNSPEC}
    misc = [
        ("Large program size limit", "have_large_insn_limit", features.has_large_insn_limit()),
        ("Bounded loop support", "have_bounded_loops", features.has_bounded_loops()),
        ("ISA extension v2", "have_v2_isa_extension", features.has_isa_v2()),
        ("ISA extension v3", "have_v3_isa_extension", features.has_isa_v3()),
        ("ISA extension v4", "have_v4_isa_extension", features.has_isa_v4()),
        ("bpf_link support", "have_bpf_link", features.has_bpf_link()),
    ]
    from ..asm import helper_name

    if ctx.json:
        ctx.emit_json({
            "system_config": {**{str(kv[0]): kv[1] for _, kv in _system_lines()},  # type: ignore[index]
                              **{o: cfg.get(o) for o in CONFIG_OPTIONS}},
            "syscall_config": {"have_bpf_syscall": True},
            "program_types": {f"have_{pt.name.lower()}_prog_type": ok for pt, (ok, _) in prog_status.items()},
            "map_types": {f"have_{mt.name.lower()}_map_type": ok for mt, ok in map_status.items()},
            "helpers": {f"{pt.name.lower()}_available_helpers": [helper_name(h) for h in hs] for pt, hs in helpers.items()},
            "misc": {key: ok for _, key, ok in misc},
        })
        return 0
    if macros:
        P = prefix
        for pt, (ok, _) in prog_status.items():
            print(f"#define {P}HAVE_{pt.name}_PROG_TYPE" if ok else f"/* {P}HAVE_{pt.name}_PROG_TYPE is not defined */")
        for mt, ok in map_status.items():
            print(f"#define {P}HAVE_{mt.name}_MAP_TYPE" if ok else f"/* {P}HAVE_{mt.name}_MAP_TYPE is not defined */")
        for pt, hs in helpers.items():
            for h in hs:
                print(f"#define {P}{pt.name}_HELPER_{helper_name(h).upper()}")
        for _, key, ok in misc:
            print(f"#define {P}{key.upper()}" if ok else f"/* {P}{key.upper()} is not defined */")
        return 0
    print("Scanning system configuration...")
    for msg, _ in _system_lines():
        print(msg)
    if cfg:
        for o in CONFIG_OPTIONS:
            v = cfg.get(o)
            print(f"{o} is not set" if v is None else f"{o} is set to {v}")
    else:
        print("skipping kernel config, can't open file: /proc/config.gz or /boot/config-*")
    print("\nScanning system call availability...\nbpf() syscall is available\n")
    print("Scanning eBPF program types...")
    for pt, (ok, why) in prog_status.items():
        print(f"eBPF program_type {pt.name.lower()} is {'available' if ok else 'NOT available'}"
              + (f" ({why})" if why and ctx.debug else ""))
    print("\nScanning eBPF map types...")
    for mt, ok in map_status.items():
        print(f"eBPF map_type {mt.name.lower()} is {'available' if ok else 'NOT available'}")
    print("\nScanning eBPF helper functions...")
    for pt, hs in helpers.items():
        print(f"eBPF helpers supported for program type {pt.name.lower()}:")
        if not prog_status[pt][0]:
            print("\tProgram type not supported")
        for h in hs:
            print(f"\t- {helper_name(h)}")
    print("\nScanning miscellaneous eBPF features...")
    for label, _, ok in misc:
        print(f"{label} is {'available' if ok else 'NOT available'}")
    print()
    return 0


def _list_builtins(ctx: Context, args: list[str]) -> int:
    """Every name pybpf knows in a group, from 0 up (``unspec`` included, as bpftool lists them)."""
    groups = ("prog_types", "map_types", "attach_types", "link_types", "helpers")
    if not args or args[0] not in groups:
        raise usage_error(f"expected one of {{{' | '.join(groups)}}}")
    if args[0] == "helpers":
        from ..asm.helpers import HelperID

        names = [f"bpf_{h.name}" for h in HelperID]
    else:
        enum = {"prog_types": ProgramType, "map_types": MapType, "attach_types": AttachType,
                "link_types": LinkType}[args[0]]
        names = [m.name.lower() for m in enum]  # type: ignore[attr-defined]
    if ctx.json:
        ctx.emit_json(names)
    else:
        print("\n".join(names))
    return 0


def run(ctx: Context, args: list[str]) -> int:
    if not args or args[0] == "help":
        print("Usage: pybpf feature probe [kernel] [macros [prefix PREFIX]]\n       pybpf feature list_builtins GROUP")
        return 0
    if "probe".startswith(args[0]):
        return _probe(ctx, args[1:])
    if args[0] == "list_builtins":
        return _list_builtins(ctx, args[1:])
    raise usage_error(f"unknown feature command '{args[0]}'")
