"""Attach programs to kernel hooks; every attach function returns a :class:`Link`.

Tracing attach points (this package's ``tracing``, ``perf_event``, ``kprobe``,
``uprobe``, ``usdt``, ``iter`` modules), network attach points (``net*``
modules) and struct_ops registration (``struct_ops``) all return :class:`Link`
subclasses: close the link (or leave its ``with`` block) to detach,
:meth:`Link.pin` it to keep it attached.

Submodules are imported on first use.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any, Iterator

from .link import Link, MultiLink, register_link_type

if TYPE_CHECKING:
    from ..introspect import LinkInfo

_LAZY: dict[str, str] = {
    **{n: ".perf_event" for n in ("PerfEventLink", "PerfEventOptions", "attach_perf_event", "open_perf_link",
                                  "perf_link_supported")},
    **{n: ".tracing" for n in ("TracepointOptions", "TracingOptions", "attach_tracepoint", "attach_raw_tracepoint",
                               "attach_tracing", "attach_tp_btf", "attach_fentry", "attach_fexit",
                               "attach_fmod_ret", "attach_lsm", "attach_freplace", "tracepoint_id",
                               "TracingLink", "RawTracepointLink")},
    **{n: ".kprobe" for n in ("KprobeOptions", "KprobeMultiOptions", "attach_kprobe", "attach_kretprobe",
                              "attach_ksyscall", "attach_kprobe_multi", "kprobes_available", "kprobe_multi_available",
                              "syscall_prefix", "KprobeMultiLink")},
    **{n: ".uprobe" for n in ("UprobeOptions", "UprobeMultiOptions", "attach_uprobe", "attach_uretprobe",
                              "attach_uprobe_multi", "uprobes_available", "UprobeMultiLink")},
    **{n: ".usdt" for n in ("UsdtNote", "UsdtArg", "UsdtSpec", "attach_usdt", "parse_usdt_notes",
                            "parse_usdt_args", "UsdtLink")},
    **{n: ".iter" for n in ("IterLink", "IterOptions", "attach_iter")},
    **{n: ".struct_ops" for n in ("StructOpsLink", "attach_struct_ops")},
    **{n: "._elfsym" for n in ("resolve_binary", "resolve_symbol", "SymbolNotFoundError", "BinaryNotFoundError")},
    # Network attach points (pybpf.links.net re-exports the net_sock ones).
    **{n: ".net" for n in (
        "attach_xdp", "attach_tcx", "attach_tc", "attach_cgroup", "attach_socket", "attach_sk_lookup",
        "attach_flow_dissector", "attach_sk_skb", "attach_sk_msg", "attach_netfilter",
        "xdp_info", "tcx_query", "tc_filters", "net_list", "cgroup_query", "netns_query",
        "XdpLink", "XdpAttachment", "TcxLink", "TcAttachment", "CgroupLink", "CgroupAttachment", "NetnsLink",
        "NetnsAttachment", "SockmapLink", "SockmapAttachment", "SocketFilter", "NetfilterLink",
        "XdpState", "TcFilter", "TcxState", "HookState", "NetAttachmentInfo", "NETWORK_PROGRAM_TYPES")},
}


def links() -> Iterator["LinkInfo"]:
    """Every BPF link in the kernel (5.8+; as ``bpftool link show``)."""
    from ..introspect import links as _links

    return _links()


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        # Anything else public in .net (e.g. names added there later) is reachable too.
        try:
            net = importlib.import_module(".net", __name__)
        except ImportError:
            raise AttributeError(f"module 'pybpf.links' has no attribute {name!r}") from None
        if name.startswith("_") or not hasattr(net, name):
            raise AttributeError(f"module 'pybpf.links' has no attribute {name!r}")
        value = getattr(net, name)
    else:
        value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _LinksModule(types.ModuleType):
    """``pybpf.links`` is also callable: ``pybpf.links()`` == :func:`links` (the kernel's link list).

    ``pybpf`` exports a ``links()`` function (pybpf.introspect); importing this package rebinds the
    ``pybpf.links`` attribute to the package, so the package keeps that call working.
    """

    def __call__(self) -> Iterator["LinkInfo"]:
        return links()


sys.modules[__name__].__class__ = _LinksModule

__all__ = ["Link", "MultiLink", "register_link_type", "links", *sorted(_LAZY)]

if TYPE_CHECKING:  # pragma: no cover - what type checkers see behind the lazy names
    from ._elfsym import BinaryNotFoundError, SymbolNotFoundError, resolve_binary, resolve_symbol
    from .iter import IterLink, IterOptions, attach_iter
    from .kprobe import (KprobeMultiLink, KprobeMultiOptions, KprobeOptions, attach_kprobe, attach_kprobe_multi,
                         attach_kretprobe, attach_ksyscall, kprobe_multi_available, kprobes_available,
                         syscall_prefix)
    from .net import (NETWORK_PROGRAM_TYPES, CgroupAttachment, CgroupLink, HookState, NetAttachmentInfo,
                      NetfilterLink, NetnsAttachment, NetnsLink, SockmapAttachment, SockmapLink, SocketFilter,
                      TcAttachment, TcFilter, TcxLink, TcxState, XdpAttachment, XdpLink, XdpState, attach_cgroup,
                      attach_flow_dissector, attach_netfilter, attach_sk_lookup, attach_sk_msg, attach_sk_skb,
                      attach_socket, attach_tc, attach_tcx, attach_xdp, cgroup_query, net_list, netns_query,
                      tc_filters, tcx_query, xdp_info)
    from .perf_event import (PerfEventLink, PerfEventOptions, attach_perf_event, open_perf_link,
                             perf_link_supported)
    from .struct_ops import StructOpsLink, attach_struct_ops
    from .tracing import (RawTracepointLink, TracepointOptions, TracingLink, TracingOptions, attach_fentry,
                          attach_fexit, attach_fmod_ret, attach_freplace, attach_lsm, attach_raw_tracepoint,
                          attach_tp_btf, attach_tracepoint, attach_tracing, tracepoint_id)
    from .uprobe import (UprobeMultiLink, UprobeMultiOptions, UprobeOptions, attach_uprobe, attach_uprobe_multi,
                         attach_uretprobe, uprobes_available)
    from .usdt import UsdtArg, UsdtLink, UsdtNote, UsdtSpec, attach_usdt, parse_usdt_args, parse_usdt_notes
