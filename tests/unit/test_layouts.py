"""Every bpf_attr / *_info field pybpf uses sits where the running kernel's BTF says.

Reads /sys/kernel/btf/vmlinux (world-readable, no root needed), so a layout
mistake fails CI instead of corrupting memory.
"""

from __future__ import annotations

import ctypes
import os

import pytest

from pybpf._sys import attrs, info

VMLINUX = "/sys/kernel/btf/vmlinux"
pytestmark = pytest.mark.skipif(not os.path.exists(VMLINUX), reason="kernel BTF (CONFIG_DEBUG_INFO_BTF) unavailable")

# Our flattened names whose BTF path differs (anonymous unions of named structs in the UAPI).
ALIASES = {
    "iter.map_id": "iter.map.map_id",
    "iter.cgroup_id": "iter.cgroup.cgroup_id",
    "iter.order": "iter.cgroup.order",
}


def _btf():
    from pybpf.btf import BTF

    return BTF.load_vmlinux()


def _flatten_btf(btf, t, base=0, prefix=""):
    """name path -> (byte offset, byte size or None for bitfields) for every member, recursively."""
    out = {}
    t = btf.resolve(t)
    for m in t.members:
        off = base + m.bit_offset // 8
        mt = btf.resolve(m.type)
        name = f"{prefix}{m.name}" if m.name else prefix
        kind = type(mt).__name__
        if kind in ("Struct", "Union"):
            sub = _flatten_btf(btf, mt, off, f"{name}." if m.name else prefix)
            out.update(sub)
            if m.name:
                out[name] = (off, btf.sizeof(mt))
        else:
            out[name] = (off, None if m.bitfield_size else btf.sizeof(mt))
    return out


def _flatten_ctypes(cls, base=0, prefix=""):
    out = {}
    anon = set(getattr(cls, "_anonymous_", ()))
    for f in cls._fields_:
        name, ftype = f[0], f[1]
        if name.startswith("_"):
            continue
        cf = getattr(cls, name)
        off = base + cf.offset
        if isinstance(ftype, type) and issubclass(ftype, (ctypes.Structure, ctypes.Union)):
            sub_prefix = prefix if name in anon else f"{prefix}{name}."
            out.update(_flatten_ctypes(ftype, off, sub_prefix))
            if name not in anon:
                out[f"{prefix}{name}"] = (off, ctypes.sizeof(ftype))
        else:
            out[f"{prefix}{name}"] = (off, None if len(f) == 3 else ctypes.sizeof(ftype))
    return out


def _check(ours: dict, theirs: dict, what: str, aliases: dict | None = None):
    problems = []
    for name, (off, size) in ours.items():
        key = (aliases or {}).get(name) or ALIASES.get(name, name)
        if key not in theirs:
            problems.append(f"{what}.{name}: not in kernel BTF")
            continue
        toff, tsize = theirs[key]
        if toff != off or (size is not None and tsize is not None and tsize != size):
            problems.append(f"{what}.{name}: ours offset {off} size {size}, kernel offset {toff} size {tsize}")
    assert not problems, "\n".join(problems)


def _attr_member(btf, ref):
    union = btf.find("bpf_attr")
    if isinstance(ref, int):
        return union.members[ref].type
    for m in union.members:
        if m.name == ref:
            return m.type
    if ref in attrs.ATTR_MIN_KERNEL:
        pytest.skip(f"bpf_attr.{ref} is not in this kernel (needs Linux {attrs.ATTR_MIN_KERNEL[ref]}+)")
    raise AssertionError(f"bpf_attr has no member {ref}")


@pytest.mark.parametrize("cls", list(attrs.ATTR_MEMBERS), ids=lambda c: c.__name__)
def test_bpf_attr_layout(cls):
    btf = _btf()
    t = _attr_member(btf, attrs.ATTR_MEMBERS[cls])
    _check(_flatten_ctypes(cls), _flatten_btf(btf, t), cls.__name__)
    assert ctypes.sizeof(cls) <= btf.sizeof(btf.find("bpf_attr"))


@pytest.mark.parametrize("cls", list(attrs.UAPI_TYPES), ids=lambda c: c.__name__)
def test_uapi_type_layout(cls):
    """Layouts passed by pointer (bpf_iter_link_info): same offsets, sizes and total size."""
    btf = _btf()
    t = btf.find(attrs.UAPI_TYPES[cls])
    _check(_flatten_ctypes(cls), _flatten_btf(btf, t), attrs.UAPI_TYPES[cls])
    assert ctypes.sizeof(cls) == btf.sizeof(t)


def test_no_bpf_layouts_outside_sys():
    """ctypes layouts handed to bpf(2) live in pybpf._sys.attrs, where the tests above check them."""
    from pybpf.cli import prog_run
    from pybpf.links import iter as liter

    assert liter.IterLinkInfo is attrs.IterLinkInfo
    assert not [n for n, v in vars(prog_run).items()
                if isinstance(v, type) and issubclass(v, (ctypes.Structure, ctypes.Union))]
    assert attrs.ATTR_MEMBERS[attrs.ProgStreamReadAttr] == "prog_stream_read"


@pytest.mark.parametrize("cls,name", [(info.ProgInfo, "bpf_prog_info"), (info.MapInfo, "bpf_map_info"),
                                      (info.BtfInfo, "bpf_btf_info"), (info.LinkInfo, "bpf_link_info")])
def test_info_layout(cls, name):
    btf = _btf()
    t = btf.find(name)
    _check(_flatten_ctypes(cls), _flatten_btf(btf, t), name)
    assert ctypes.sizeof(cls) <= btf.sizeof(t)


def test_link_create_anonymous_iter_is_flat():
    # The UAPI's link_create.iter_info lives in an anonymous struct: we expose it flat too.
    a = attrs.LinkCreateAttr()
    a.iter_info = 5
    a.iter_info_len = 8
    assert a.u.iter.iter_info == 5


def test_perf_event_attr_layout():
    from pybpf._sys import perf

    btf = _btf()
    t = btf.find("perf_event_attr")
    # our `flags` u64 holds the bitfield word that starts with `disabled`; unions by first name
    aliases = {"flags": "disabled"}
    _check(_flatten_ctypes(perf.PerfEventAttr), _flatten_btf(btf, t), "perf_event_attr", aliases)
    assert ctypes.sizeof(perf.PerfEventAttr) == btf.sizeof(t)
    page = btf.find("perf_event_mmap_page")
    _check(_flatten_ctypes(perf.PerfEventMmapPage), _flatten_btf(btf, page), "perf_event_mmap_page",
           {"lock": "lock", "capabilities": "capabilities"})
