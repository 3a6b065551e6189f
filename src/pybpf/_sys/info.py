"""ctypes layouts of bpf_prog_info, bpf_map_info, bpf_btf_info and bpf_link_info (UAPI).

The kernel fills at most ``info_len`` bytes and reports how much it knows, so a
shorter struct from an older UAPI works on newer kernels and vice versa.
"""

from __future__ import annotations

import ctypes
from ctypes import c_char, c_int32, c_uint8, c_uint32, c_uint64

from .attrs import _Struct

u8, u32, s32, u64 = c_uint8, c_uint32, c_int32, c_uint64


class ProgInfo(_Struct):
    """struct bpf_prog_info."""

    _fields_ = [
        ("type", u32),
        ("id", u32),
        ("tag", u8 * 8),
        ("jited_prog_len", u32),
        ("xlated_prog_len", u32),
        ("jited_prog_insns", u64),
        ("xlated_prog_insns", u64),
        ("load_time", u64),
        ("created_by_uid", u32),
        ("nr_map_ids", u32),
        ("map_ids", u64),
        ("name", c_char * 16),
        ("ifindex", u32),
        ("gpl_compatible", u32, 1),
        ("netns_dev", u64),
        ("netns_ino", u64),
        ("nr_jited_ksyms", u32),
        ("nr_jited_func_lens", u32),
        ("jited_ksyms", u64),
        ("jited_func_lens", u64),
        ("btf_id", u32),
        ("func_info_rec_size", u32),
        ("func_info", u64),
        ("nr_func_info", u32),
        ("nr_line_info", u32),
        ("line_info", u64),
        ("jited_line_info", u64),
        ("nr_jited_line_info", u32),
        ("line_info_rec_size", u32),
        ("jited_line_info_rec_size", u32),
        ("nr_prog_tags", u32),
        ("prog_tags", u64),
        ("run_time_ns", u64),
        ("run_cnt", u64),
        ("recursion_misses", u64),
        ("verified_insns", u32),
        ("attach_btf_obj_id", u32),
        ("attach_btf_id", u32),
    ]


class MapInfo(_Struct):
    """struct bpf_map_info."""

    _fields_ = [
        ("type", u32),
        ("id", u32),
        ("key_size", u32),
        ("value_size", u32),
        ("max_entries", u32),
        ("map_flags", u32),
        ("name", c_char * 16),
        ("ifindex", u32),
        ("btf_vmlinux_value_type_id", u32),
        ("netns_dev", u64),
        ("netns_ino", u64),
        ("btf_id", u32),
        ("btf_key_type_id", u32),
        ("btf_value_type_id", u32),
        ("btf_vmlinux_id", u32),
        ("map_extra", u64),
    ]


class BtfInfo(_Struct):
    """struct bpf_btf_info."""

    _fields_ = [
        ("btf", u64),
        ("btf_size", u32),
        ("id", u32),
        ("name", u64),
        ("name_len", u32),
        ("kernel_btf", u32),
    ]


class _LinkRawTp(_Struct):
    _fields_ = [("tp_name", u64), ("tp_name_len", u32), ("_pad0", u32), ("cookie", u64)]


class _LinkTracing(_Struct):
    _fields_ = [("attach_type", u32), ("target_obj_id", u32), ("target_btf_id", u32), ("_pad0", u32), ("cookie", u64)]


class _LinkCgroup(_Struct):
    _fields_ = [("cgroup_id", u64), ("attach_type", u32)]


class _LinkIter(_Struct):
    _fields_ = [
        ("target_name", u64),
        ("target_name_len", u32),
        ("map_id", u32),  # union { struct { map_id } map }
        ("cgroup_id", u64),  # union { cgroup {cgroup_id, order}, task {tid, pid} }
        ("order", u32),
    ]

    @property
    def tid(self) -> int:
        return int(self.cgroup_id) & 0xFFFFFFFF

    @property
    def pid(self) -> int:
        return int(self.cgroup_id) >> 32


class _LinkNetns(_Struct):
    _fields_ = [("netns_ino", u32), ("attach_type", u32)]


class _LinkXdp(_Struct):
    _fields_ = [("ifindex", u32)]


class _LinkStructOps(_Struct):
    _fields_ = [("map_id", u32)]


class _LinkNetfilter(_Struct):
    _fields_ = [("pf", u32), ("hooknum", u32), ("priority", s32), ("flags", u32)]


class _LinkKprobeMulti(_Struct):
    _fields_ = [("addrs", u64), ("count", u32), ("flags", u32), ("missed", u64), ("cookies", u64)]


class _LinkUprobeMulti(_Struct):
    _fields_ = [
        ("path", u64),
        ("offsets", u64),
        ("ref_ctr_offsets", u64),
        ("cookies", u64),
        ("path_size", u32),
        ("count", u32),
        ("flags", u32),
        ("pid", u32),
    ]


class _PerfUprobe(_Struct):
    _fields_ = [("file_name", u64), ("name_len", u32), ("offset", u32), ("cookie", u64), ("ref_ctr_offset", u64)]


class _PerfKprobe(_Struct):
    _fields_ = [
        ("func_name", u64),
        ("name_len", u32),
        ("offset", u32),
        ("addr", u64),
        ("missed", u64),
        ("cookie", u64),
    ]


class _PerfTracepoint(_Struct):
    _fields_ = [("tp_name", u64), ("name_len", u32), ("_pad0", u32), ("cookie", u64)]


class _PerfEvent(_Struct):
    _fields_ = [("config", u64), ("type", u32), ("_pad0", u32), ("cookie", u64)]


class _PerfUnion(ctypes.Union):
    _fields_ = [
        ("uprobe", _PerfUprobe),
        ("kprobe", _PerfKprobe),
        ("tracepoint", _PerfTracepoint),
        ("event", _PerfEvent),
    ]


class _LinkPerfEvent(_Struct):
    _anonymous_ = ("u",)
    _fields_ = [("type", u32), ("_pad0", u32), ("u", _PerfUnion)]


class _LinkIfAttach(_Struct):
    _fields_ = [("ifindex", u32), ("attach_type", u32)]


class _LinkSockmap(_Struct):
    _fields_ = [("map_id", u32), ("attach_type", u32)]


class _LinkInfoUnion(ctypes.Union):
    _fields_ = [
        ("raw_tracepoint", _LinkRawTp),
        ("tracing", _LinkTracing),
        ("cgroup", _LinkCgroup),
        ("iter", _LinkIter),
        ("netns", _LinkNetns),
        ("xdp", _LinkXdp),
        ("struct_ops", _LinkStructOps),
        ("netfilter", _LinkNetfilter),
        ("kprobe_multi", _LinkKprobeMulti),
        ("uprobe_multi", _LinkUprobeMulti),
        ("perf_event", _LinkPerfEvent),
        ("tcx", _LinkIfAttach),
        ("netkit", _LinkIfAttach),
        ("sockmap", _LinkSockmap),
    ]


class LinkInfo(_Struct):
    """struct bpf_link_info."""

    _anonymous_ = ("u",)
    _fields_ = [("type", u32), ("id", u32), ("prog_id", u32), ("_pad0", u32), ("u", _LinkInfoUnion)]


__all__ = ["ProgInfo", "MapInfo", "BtfInfo", "LinkInfo", "c_char"]
