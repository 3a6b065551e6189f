"""pybpf.bcc support code without a kernel: tracepoint structs, histograms, suggestions, and
rewritten programs compiling (when a compiler and the kernel's BTF are available)."""

from __future__ import annotations

import os
import shutil

import pytest

from pybpf.bcc import _hist, tpformat
from pybpf.bcc._suggest import syscall_name
from pybpf.bcc.rewriter import include_dir, rewrite

EXECVE = """name: sys_enter_execve
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char __user * filename;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;
"""

SWITCH = """name: sched_switch
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:char prev_comm[TASK_COMM_LEN];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:int prev_prio;\toffset:28;\tsize:4;\tsigned:1;
\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;
\tfield:char next_comm[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:56;\tsize:4;\tsigned:0;
\tfield:u32 cpus[2];\toffset:60;\tsize:8;\tsigned:0;
\tfield:u64 odd;\toffset:68;\tsize:8;\tsigned:0;
"""


def test_parse_format_fields():
    f = tpformat.parse_format(EXECVE)
    assert [x.name for x in f] == ["common_type", "common_flags", "common_preempt_count", "common_pid",
                                   "__syscall_nr", "filename", "argv"]
    assert f[5].type == "const char __user *" and f[5].pointer and f[5].offset == 16
    assert f[3].signed and not f[0].signed


def test_tracepoint_struct_layout():
    s = tpformat.tracepoint_struct("syscalls", "sys_enter_execve", EXECVE)
    assert s.startswith("struct tracepoint__syscalls__sys_enter_execve {\n")
    assert "\tu16 common_type;\n" in s and "\ts32 common_pid;\n" in s and "\ts32 __syscall_nr;\n" in s
    assert "\tchar __pad_12[4];\n" in s
    assert "\tconst char * filename;\n" in s  # __user dropped, pointer kept
    assert "packed" not in s


def test_tracepoint_struct_arrays_data_loc_and_packing():
    s = tpformat.tracepoint_struct("sched", "sched_switch", SWITCH)
    assert "\tchar prev_comm[16];\n" in s  # symbolic dimension resolved from the size
    assert "\ts32 prev_pid;\n" in s and "\ts64 prev_state;\n" in s
    assert "\tint data_loc_name;\n" in s
    assert "\tu32 cpus[2];\n" in s
    assert s.rstrip().endswith("} __attribute__((packed));")  # u64 at offset 68


def test_tracepoint_struct_needs_fields():
    with pytest.raises(ValueError):
        tpformat.tracepoint_struct("a", "b", "name: b\nformat:\n")


def test_log2_hist_matches_bcc_layout():
    vals = [0, 24, 15, 4, 103, 0, 7] + [0] * 58
    assert _hist.log2_hist_lines(vals, "usecs") == [
        "     usecs               : count     distribution",
        "         0 -> 1          : 24       |*********                               |",
        "         2 -> 3          : 15       |*****                                   |",
        "         4 -> 7          : 4        |*                                       |",
        "         8 -> 15         : 103      |****************************************|",
        "        16 -> 31         : 0        |                                        |",
        "        32 -> 63         : 7        |**                                      |",
    ]
    wide = [0] * 40 + [5, 0, 9] + [0] * 22
    assert _hist.log2_hist_lines(wide, "ns", True) == [
        "               ns                            : count     distribution",
        "        549755813888 -> 1099511627775        : 5        |***********         |",
        "       1099511627776 -> 2199023255551        : 0        |                    |",
        "       2199023255552 -> 4398046511103        : 9        |********************|",
    ]
    assert _hist.log2_hist_lines([0] * 65) == []


def test_linear_hist_and_stars():
    assert _hist.linear_hist_lines([0, 0, 3, 1], "kb", True) == [
        "     kb            : count     distribution",
        "        2          : 3        |****************************************|",
        "        3          : 1        |*************                           |",
    ]
    assert _hist.stars(50, 40, 10) == "*********+"
    j = _hist.json_hist([0, 2, 1], "us", ("bucket", "x"))
    assert j["data"] == [{"interval-start": 0, "interval-end": 1, "count": 2},
                         {"interval-start": 2, "interval-end": 3, "count": 1}] and j["bucket"] == "x"


@pytest.mark.parametrize("func, name", [("__x64_sys_execve", "execve"), ("sys_openat", "openat"),
                                        ("__arm64_sys_read", "read"), ("do_sys_open", None), ("sys_", None)])
def test_syscall_name(func, name):
    assert syscall_name(func) == name


# ------------------------------------------------------------------ compiling rewritten programs
def _compiler_ok() -> bool:
    from pybpf.compile import toolchain

    return os.path.exists("/sys/kernel/btf/vmlinux") and (toolchain.zig_path() is not None or
                                                          shutil.which("clang") is not None)


needs_cc = pytest.mark.skipif(not _compiler_ok(), reason="no BPF compiler or no kernel BTF for vmlinux.h")

EVERYTHING = r"""
#include <uapi/linux/ptrace.h>
#include <linux/sched.h>
#include <net/sock.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <linux/bpf.h>
#include <linux/fs.h>
#include <bcc/proto.h>

struct key_t { u32 pid; u64 slot; };
struct data_t { u32 pid; char comm[TASK_COMM_LEN]; };
BPF_HASH(counts, struct key_t, u64, 128);
BPF_ARRAY(arr, u32, 4);
BPF_PERCPU_ARRAY(pc, u64, 4);
BPF_PERCPU_HASH(ph, u32);
BPF_HISTOGRAM(dist);
BPF_HISTOGRAM(dist2, struct key_t);
BPF_LPM_TRIE(trie, struct bpf_lpm_trie_key_u8_4, u32, 16);
BPF_STACK_TRACE(stacks, 64);
BPF_PERF_OUTPUT(events);
BPF_RINGBUF_OUTPUT(rb, 4);
BPF_PROG_ARRAY(jmp, 4);
BPF_QUEUE(q, u32, 8);
BPF_STACK(stk, u64, 8);
BPF_ARRAY_OF_MAPS(aom, "arr", 4);
BPF_HASH_OF_MAPS(hom, u32, "arr", 4);
BPF_TABLE("lru_hash", u32, u64, lru, 16);
BPF_DEVMAP(devs, 4);

struct bpf_lpm_trie_key_u8_4 { u32 prefixlen; u8 data[4]; };

static __always_inline int helper(u32 x) { return x & 1; }

int kprobe__do_nanosleep(struct pt_regs *ctx, void *t) {
    struct key_t k = {.pid = bpf_get_current_pid_tgid() >> 32};
    u64 zero = 0, *v;
    u32 idx = 0, val = 1;
    counts.increment(k);
    counts.atomic_increment(k, 2);
    v = counts.lookup_or_try_init(&k, &zero);
    if (v) (*v)++;
    counts.update(&k, &zero);
    counts.insert(&k, &zero);
    counts.delete(&k);
    arr.increment(idx);
    pc.increment(idx);
    ph.increment(idx, 3);
    dist.increment(bpf_log2l(bpf_ktime_get_ns()));
    k.slot = bpf_log2(helper(7));
    dist2.increment(k);
    k.slot = stacks.get_stackid(ctx, BPF_F_USER_STACK);
    lru.increment(idx);
    q.push(&val, BPF_EXIST);
    q.pop(&val);
    stk.peek(&zero);
    void *inner = aom.lookup(&idx);
    if (inner) bpf_map_lookup_elem(inner, &idx);
    struct data_t d = {};
    bpf_get_current_comm(&d.comm, sizeof(d.comm));
    events.perf_submit(ctx, &d, sizeof(d));
    struct data_t *r = rb.ringbuf_reserve(sizeof(*r));
    if (r) rb.ringbuf_submit(r, 0);
    rb.ringbuf_output(&d, sizeof(d), 0);
    jmp.call(ctx, 1);
    bpf_trace_printk("pid %d comm %s\n", d.pid, d.comm);
    bpf_trace_printk("four %d %d %d %d\n", 1, 2, 3, 4);
    return 0;
}

int xdp_prog(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    void *cursor = data;
    struct ethernet_t *eth = cursor_advance(cursor, sizeof(*eth));
    if ((void *)(eth + 1) > end) return XDP_PASS;
    if (eth->type != bpf_htons(ETH_P_IP)) return XDP_PASS;
    struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
    if ((void *)(ip + 1) > end) return XDP_PASS;
    if (ip->nextp == IPPROTO_UDP && ip->ver == 4) return devs.redirect_map(0, XDP_PASS);
    return XDP_PASS;
}

int classifier(struct __sk_buff *skb) { return skb->protocol == bpf_htons(ETH_P_IPV6) ? TC_ACT_SHOT : TC_ACT_OK; }

RAW_TRACEPOINT_PROBE(sched_switch) { return ctx->args[0] == 0; }
KFUNC_PROBE(do_unlinkat, int dfd, struct filename *name) { return 0; }
KRETFUNC_PROBE(do_unlinkat, int dfd, struct filename *name, int ret) { return 0; }
LSM_PROBE(bpf, int cmd, union bpf_attr *attr, unsigned int size) { return 0; }
"""


@needs_cc
def test_everything_compiles_and_opens(tmp_path, monkeypatch):
    import pybpf
    from pybpf import MapType, ProgramType
    from pybpf.compile import compile

    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path))
    r = rewrite(EVERYTHING, filename="everything.c", tp_format=lambda c, e: "")
    obj = compile(r.text, include_dirs=[include_dir()], filename="everything.c")
    spec = pybpf.open(bytes(obj))
    want = {"counts": MapType.HASH, "arr": MapType.ARRAY, "pc": MapType.PERCPU_ARRAY, "ph": MapType.PERCPU_HASH,
            "dist": MapType.ARRAY, "dist2": MapType.HASH, "trie": MapType.LPM_TRIE, "stacks": MapType.STACK_TRACE,
            "events": MapType.PERF_EVENT_ARRAY, "rb": MapType.RINGBUF, "jmp": MapType.PROG_ARRAY,
            "q": MapType.QUEUE, "stk": MapType.STACK, "aom": MapType.ARRAY_OF_MAPS, "hom": MapType.HASH_OF_MAPS,
            "lru": MapType.LRU_HASH, "devs": MapType.DEVMAP}
    for name, t in want.items():
        assert spec.maps[name].type == t, name
    assert spec.maps["counts"].key_size == 16 and spec.maps["counts"].value_size == 8
    assert spec.maps["dist"].max_entries == 64 and spec.maps["stacks"].value_size == 127 * 8
    assert spec.maps["rb"].max_entries == 4 * __import__("mmap").PAGESIZE
    assert spec.maps["aom"].inner_map is not None
    progs = spec.programs
    assert progs["kprobe__do_nanosleep"].type == ProgramType.KPROBE
    assert progs["xdp_prog"].section == "kprobe" and progs["classifier"].section == "kprobe"
    assert progs["raw_tracepoint__sched_switch"].type == ProgramType.RAW_TRACEPOINT
    assert progs["kfunc__vmlinux__do_unlinkat"].type == ProgramType.TRACING
    assert progs["kretfunc__vmlinux__do_unlinkat"].section == "fexit/do_unlinkat"
    assert progs["lsm__bpf"].type == ProgramType.LSM
    assert "__bcc_event_events" not in progs  # the BTF anchor is not a program
    assert spec.btf.find_all("data_t")


@needs_cc
def test_compile_errors_point_at_user_lines(tmp_path, monkeypatch):
    from pybpf.compile import compile
    from pybpf.errors import CompileError

    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path))
    src = "BPF_HASH(m,\n  u32, u64);\nint f(void *ctx) {\n  m.increment(1);\n  undefined_thing++;\n  return 0;\n}\n"
    r = rewrite(src, filename="user.c")
    with pytest.raises(CompileError) as ei:
        compile(r.text, include_dirs=[include_dir()], filename="user.c")
    assert "user.c:5:3: error: use of undeclared identifier 'undefined_thing'" in str(ei.value)


def test_trace_fields_parsing_and_trace_print(capsys):
    from pybpf.bcc._trace import TraceMixin, parse_fields

    line = b"           <...>-1234    (  1234) [003] d..21  4325.267617: bpf_trace_printk: hello 7"
    assert parse_fields(line) == (b"<...>", 1234, 3, b"d..21", 4325.267617, b"hello 7")
    assert parse_fields(b"CPU:2 [LOST 5 EVENTS]") is None
    assert parse_fields(b"garbage") is None

    class Fake(TraceMixin):
        tracefile = None

        def __init__(self, lines):
            self.lines = list(lines)

        def trace_readline(self, nonblocking=False, timeout=None):
            return self.lines.pop(0) if self.lines else b""

    Fake([b"junk", line]).trace_print(fmt="pid {1} msg {5}", timeout=0)
    assert capsys.readouterr().out == "pid 1234 msg b'hello 7'\n"
    Fake([line]).trace_print(timeout=0)
    assert capsys.readouterr().out.strip().endswith("bpf_trace_printk: hello 7")
    assert Fake([]).trace_fields(nonblocking=True) == (None,) * 6


def test_table_values_longer_or_shorter_than_the_leaf_are_cut_or_padded():
    """BCC copies sizeof(Key)/sizeof(Leaf) bytes: a 13-byte create_string_buffer into char[12]."""
    import ctypes as ct
    from types import SimpleNamespace

    from pybpf.bcc.table import TableBase, _to_bytes

    class Msg(ct.Structure):
        _fields_ = [("message", ct.c_char * 12)]

    assert _to_bytes(ct.create_string_buffer(b"Hi user 501!"), Msg, 12, "leaf") == b"Hi user 501!"
    assert _to_bytes(ct.create_string_buffer(b"Hey root!"), Msg, 12, "leaf") == b"Hey root!\0\0\0"
    assert _to_bytes(b"abcdef", None, 4, "key") == b"abcd"
    assert _to_bytes(ct.c_uint8(7), ct.c_uint32, 4, "key") == b"\x07\0\0\0"
    assert _to_bytes(ct.c_uint64(0x0102030405060708), ct.c_uint32, 4, "key") == b"\x08\x07\x06\x05"
    with pytest.raises(TypeError):
        _to_bytes("text", None, 4, "key")

    fake = SimpleNamespace(max_entries=8)
    keys = (ct.c_uint64 * 2)(1, 2)
    b, n = TableBase._array_bytes(fake, keys, 4, "keys")
    assert n == 2 and b == b"\x01\0\0\0\x02\0\0\0"
    vals = (ct.c_uint16 * 2)(3, 4)
    b, n = TableBase._array_bytes(fake, vals, 4, "values")
    assert n == 2 and b == b"\x03\0\0\0\x04\0\0\0"
    b, n = TableBase._array_bytes(fake, (ct.c_uint32 * 2)(5, 6), 4, "values")
    assert b == b"\x05\0\0\0\x06\0\0\0"


def test_trace_open_falls_back_to_a_private_instance_when_busy(tmp_path, monkeypatch, capsys):
    import errno as _errno

    from pybpf.bcc import _trace
    from pybpf.events import tracepipe

    root = tmp_path / "tracefs"
    (root / "instances").mkdir(parents=True)
    (root / "trace_pipe").write_bytes(b"")
    created = []

    class FakeInstance:
        def __init__(self, name, tracefs=None, **kw):
            self.path = os.path.join(tracefs, "instances", name)
            os.mkdir(self.path)
            with open(os.path.join(self.path, "trace_pipe"), "wb") as f:
                f.write(b"  <...>-7 [001] d..31 12.5: bpf_trace_printk: from instance\n")
            self.closed = False
            created.append(self)

        def close(self):
            self.closed = True
            os.unlink(os.path.join(self.path, "trace_pipe"))
            os.rmdir(self.path)

    real_open = os.open

    def busy_open(path, *a, **kw):
        if path == str(root / "trace_pipe"):
            raise OSError(_errno.EBUSY, "Device or resource busy", path)
        return real_open(path, *a, **kw)

    monkeypatch.setattr("pybpf._sys.fs.find_tracefs", lambda: str(root))
    monkeypatch.setattr(tracepipe, "TraceInstance", FakeInstance)
    monkeypatch.setattr(_trace.os, "open", busy_open)

    class T(_trace.TraceMixin):
        tracefile = None

    t = T()
    assert t.trace_fields(timeout=0.2)[5] == b"from instance"
    assert len(created) == 1 and t._trace_instance is created[0]
    assert "trace_pipe is busy" in capsys.readouterr().err
    t._trace_close()
    assert created[0].closed and t._trace_instance is None and t.tracefile is None
