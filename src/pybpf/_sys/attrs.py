"""ctypes layouts of the ``union bpf_attr`` members, one Structure per command group.

Each class mirrors one member of ``union bpf_attr`` in include/uapi/linux/bpf.h
(the anonymous structs are named after the commands that use them). The kernel
accepts a shorter attr than its own union as long as the tail it knows is zero,
so every command passes ``ctypes.sizeof`` of its own structure.

It also holds the other UAPI layouts passed to bpf(2) by pointer
(``union bpf_iter_link_info``). ``tests/unit/test_layouts.py`` checks every
field offset and size here against the running kernel's BTF.
"""

from __future__ import annotations

import ctypes
from ctypes import c_char, c_int32, c_uint8, c_uint32, c_uint64

u8, u32, s32, u64 = c_uint8, c_uint32, c_int32, c_uint64


class _Struct(ctypes.Structure):
    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n, *_ in self._fields_ if not n.startswith("_"))
        return f"{type(self).__name__}({fields})"


class MapCreateAttr(_Struct):
    """BPF_MAP_CREATE (first anonymous struct of bpf_attr). Minimum kernel 3.18."""

    _fields_ = [
        ("map_type", u32),
        ("key_size", u32),
        ("value_size", u32),
        ("max_entries", u32),
        ("map_flags", u32),
        ("inner_map_fd", u32),
        ("numa_node", u32),
        ("map_name", c_char * 16),
        ("map_ifindex", u32),
        ("btf_fd", u32),
        ("btf_key_type_id", u32),
        ("btf_value_type_id", u32),
        ("btf_vmlinux_value_type_id", u32),
        ("map_extra", u64),
        ("value_type_btf_obj_fd", s32),
        ("map_token_fd", s32),
    ]


class MapElemAttr(_Struct):
    """MAP_LOOKUP/UPDATE/DELETE_ELEM, MAP_GET_NEXT_KEY, MAP_LOOKUP_AND_DELETE_ELEM, MAP_FREEZE."""

    _fields_ = [
        ("map_fd", u32),
        ("_pad0", u32),
        ("key", u64),
        ("value", u64),  # union with next_key
        ("flags", u64),
    ]

    @property
    def next_key(self) -> int:
        return int(self.value)

    @next_key.setter
    def next_key(self, v: int) -> None:
        self.value = v


class MapBatchAttr(_Struct):
    """MAP_*_BATCH (bpf_attr.batch). Minimum kernel 5.6."""

    _fields_ = [
        ("in_batch", u64),
        ("out_batch", u64),
        ("keys", u64),
        ("values", u64),
        ("count", u32),
        ("map_fd", u32),
        ("elem_flags", u64),
        ("flags", u64),
    ]


class ProgLoadAttr(_Struct):
    """BPF_PROG_LOAD."""

    _fields_ = [
        ("prog_type", u32),
        ("insn_cnt", u32),
        ("insns", u64),
        ("license", u64),
        ("log_level", u32),
        ("log_size", u32),
        ("log_buf", u64),
        ("kern_version", u32),
        ("prog_flags", u32),
        ("prog_name", c_char * 16),
        ("prog_ifindex", u32),
        ("expected_attach_type", u32),
        ("prog_btf_fd", u32),
        ("func_info_rec_size", u32),
        ("func_info", u64),
        ("func_info_cnt", u32),
        ("line_info_rec_size", u32),
        ("line_info", u64),
        ("line_info_cnt", u32),
        ("attach_btf_id", u32),
        ("attach_prog_fd", u32),  # union with attach_btf_obj_fd
        ("core_relo_cnt", u32),
        ("fd_array", u64),
        ("core_relos", u64),
        ("core_relo_rec_size", u32),
        ("log_true_size", u32),
        ("prog_token_fd", s32),
        ("fd_array_cnt", u32),
    ]

    @property
    def attach_btf_obj_fd(self) -> int:
        return int(self.attach_prog_fd)

    @attach_btf_obj_fd.setter
    def attach_btf_obj_fd(self, v: int) -> None:
        self.attach_prog_fd = v


class ObjAttr(_Struct):
    """BPF_OBJ_PIN / BPF_OBJ_GET."""

    _fields_ = [
        ("pathname", u64),
        ("bpf_fd", u32),
        ("file_flags", u32),
        ("path_fd", s32),
    ]


class ProgAttachAttr(_Struct):
    """BPF_PROG_ATTACH / BPF_PROG_DETACH."""

    _fields_ = [
        ("target_fd", u32),  # union with target_ifindex
        ("attach_bpf_fd", u32),
        ("attach_type", u32),
        ("attach_flags", u32),
        ("replace_bpf_fd", u32),
        ("relative_fd", u32),  # union with relative_id
        ("expected_revision", u64),
    ]


class TestRunAttr(_Struct):
    """BPF_PROG_TEST_RUN (bpf_attr.test). Minimum kernel 4.12."""

    _fields_ = [
        ("prog_fd", u32),
        ("retval", u32),
        ("data_size_in", u32),
        ("data_size_out", u32),
        ("data_in", u64),
        ("data_out", u64),
        ("repeat", u32),
        ("duration", u32),
        ("ctx_size_in", u32),
        ("ctx_size_out", u32),
        ("ctx_in", u64),
        ("ctx_out", u64),
        ("flags", u32),
        ("cpu", u32),
        ("batch_size", u32),
    ]


class GetIdAttr(_Struct):
    """*_GET_NEXT_ID, *_GET_FD_BY_ID."""

    _fields_ = [
        ("start_id", u32),  # union: prog_id, map_id, btf_id, link_id
        ("next_id", u32),
        ("open_flags", u32),
        ("fd_by_id_token_fd", s32),
    ]


class InfoAttr(_Struct):
    """BPF_OBJ_GET_INFO_BY_FD (bpf_attr.info)."""

    _fields_ = [("bpf_fd", u32), ("info_len", u32), ("info", u64)]


class QueryAttr(_Struct):
    """BPF_PROG_QUERY (bpf_attr.query)."""

    _fields_ = [
        ("target_fd", u32),  # union with target_ifindex
        ("attach_type", u32),
        ("query_flags", u32),
        ("attach_flags", u32),
        ("prog_ids", u64),
        ("prog_cnt", u32),  # union with count
        ("_pad0", u32),
        ("prog_attach_flags", u64),
        ("link_ids", u64),
        ("link_attach_flags", u64),
        ("revision", u64),
    ]


class RawTracepointAttr(_Struct):
    """BPF_RAW_TRACEPOINT_OPEN (bpf_attr.raw_tracepoint). Minimum kernel 4.17."""

    _fields_ = [("name", u64), ("prog_fd", u32), ("_pad0", u32), ("cookie", u64)]


class BtfLoadAttr(_Struct):
    """BPF_BTF_LOAD. Minimum kernel 4.18."""

    _fields_ = [
        ("btf", u64),
        ("btf_log_buf", u64),
        ("btf_size", u32),
        ("btf_log_size", u32),
        ("btf_log_level", u32),
        ("btf_log_true_size", u32),
        ("btf_flags", u32),
        ("btf_token_fd", s32),
    ]


class TaskFdQueryAttr(_Struct):
    """BPF_TASK_FD_QUERY (bpf_attr.task_fd_query). Minimum kernel 4.18."""

    _fields_ = [
        ("pid", u32),
        ("fd", u32),
        ("flags", u32),
        ("buf_len", u32),
        ("buf", u64),
        ("prog_id", u32),
        ("fd_type", u32),
        ("probe_offset", u64),
        ("probe_addr", u64),
    ]


class _KprobeMulti(_Struct):
    _fields_ = [("flags", u32), ("cnt", u32), ("syms", u64), ("addrs", u64), ("cookies", u64)]


class _Tracing(_Struct):
    _fields_ = [("target_btf_id", u32), ("_pad0", u32), ("cookie", u64)]


class _Netfilter(_Struct):
    _fields_ = [("pf", u32), ("hooknum", u32), ("priority", s32), ("flags", u32)]


class _Relative(_Struct):
    """tcx / netkit / cgroup: relative_fd|relative_id + expected_revision."""

    _fields_ = [("relative_fd", u32), ("_pad0", u32), ("expected_revision", u64)]


class _UprobeMulti(_Struct):
    _fields_ = [
        ("path", u64),
        ("offsets", u64),
        ("ref_ctr_offsets", u64),
        ("cookies", u64),
        ("cnt", u32),
        ("flags", u32),
        ("pid", u32),
    ]


class _Iter(_Struct):
    _fields_ = [("iter_info", u64), ("iter_info_len", u32)]


class _PerfEvent(_Struct):
    _fields_ = [("bpf_cookie", u64)]


class _LinkCreateUnion(ctypes.Union):
    _anonymous_ = ("iter",)  # anonymous struct { iter_info, iter_info_len } in the UAPI
    _fields_ = [
        ("target_btf_id", u32),
        ("iter", _Iter),
        ("perf_event", _PerfEvent),
        ("kprobe_multi", _KprobeMulti),
        ("tracing", _Tracing),
        ("netfilter", _Netfilter),
        ("tcx", _Relative),
        ("uprobe_multi", _UprobeMulti),
        ("netkit", _Relative),
        ("cgroup", _Relative),
    ]


class LinkCreateAttr(_Struct):
    """BPF_LINK_CREATE (bpf_attr.link_create). Minimum kernel 5.7."""

    _anonymous_ = ("u",)
    _fields_ = [
        ("prog_fd", u32),  # union with map_fd
        ("target_fd", u32),  # union with target_ifindex
        ("attach_type", u32),
        ("flags", u32),
        ("u", _LinkCreateUnion),
    ]


class LinkUpdateAttr(_Struct):
    """BPF_LINK_UPDATE. Minimum kernel 5.7."""

    _fields_ = [("link_fd", u32), ("new_prog_fd", u32), ("flags", u32), ("old_prog_fd", u32)]


class LinkDetachAttr(_Struct):
    """BPF_LINK_DETACH. Minimum kernel 5.9."""

    _fields_ = [("link_fd", u32)]


class EnableStatsAttr(_Struct):
    """BPF_ENABLE_STATS. Minimum kernel 5.8."""

    _fields_ = [("type", u32)]


class IterCreateAttr(_Struct):
    """BPF_ITER_CREATE. Minimum kernel 5.8."""

    _fields_ = [("link_fd", u32), ("flags", u32)]


class ProgBindMapAttr(_Struct):
    """BPF_PROG_BIND_MAP. Minimum kernel 5.10."""

    _fields_ = [("prog_fd", u32), ("map_fd", u32), ("flags", u32)]


class ProgStreamReadAttr(_Struct):
    """BPF_PROG_STREAM_READ_BY_FD (bpf_attr.prog_stream_read). Minimum kernel 6.17."""

    _fields_ = [("stream_buf", u64), ("stream_buf_len", u32), ("stream_id", u32), ("prog_fd", u32)]


# ----------------------------------------------------- pointed-to UAPI layouts
class IterMapInfo(_Struct):
    """``bpf_iter_link_info.map``: the map of a map-element/sockmap iterator (5.9+)."""

    _fields_ = [("map_fd", u32)]


class IterCgroupInfo(_Struct):
    """``bpf_iter_link_info.cgroup``: cgroup iterator parameters (6.1+)."""

    _fields_ = [("order", u32), ("cgroup_fd", u32), ("cgroup_id", u64)]


class IterTaskInfo(_Struct):
    """``bpf_iter_link_info.task``: task/task_file/task_vma iterator restriction (6.1+)."""

    _fields_ = [("tid", u32), ("pid", u32), ("pid_fd", u32)]


class IterLinkInfo(ctypes.Union):
    """``union bpf_iter_link_info`` (16 bytes), pointed to by ``link_create.iter_info`` (5.9+)."""

    _fields_ = [("map", IterMapInfo), ("cgroup", IterCgroupInfo), ("task", IterTaskInfo)]


# Standalone UAPI types mirrored here, by kernel BTF name (used by the layout test).
UAPI_TYPES: dict[type[ctypes.Structure] | type[ctypes.Union], str] = {
    IterLinkInfo: "bpf_iter_link_info",
}


# Which bpf_attr member each structure mirrors (used by the layout test):
# index of the member inside `union bpf_attr` as the kernel's BTF lists it.
ATTR_MEMBERS: dict[type[ctypes.Structure], str | int] = {
    MapCreateAttr: 0,
    MapElemAttr: 1,
    MapBatchAttr: "batch",
    ProgLoadAttr: 3,
    ObjAttr: 4,
    ProgAttachAttr: 5,
    TestRunAttr: "test",
    GetIdAttr: 7,
    InfoAttr: "info",
    QueryAttr: "query",
    RawTracepointAttr: "raw_tracepoint",
    BtfLoadAttr: 11,
    TaskFdQueryAttr: "task_fd_query",
    LinkCreateAttr: "link_create",
    LinkUpdateAttr: "link_update",
    LinkDetachAttr: "link_detach",
    EnableStatsAttr: "enable_stats",
    IterCreateAttr: "iter_create",
    ProgBindMapAttr: "prog_bind_map",
    ProgStreamReadAttr: "prog_stream_read",
}

# bpf_attr members newer than the oldest kernels pybpf runs on (the layout test skips them there).
ATTR_MIN_KERNEL: dict[str, str] = {"prog_stream_read": "6.17"}
