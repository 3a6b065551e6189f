"""pybpf.bcc.rewriter: BCC's C dialect -> libbpf-style C (pure text, no kernel)."""

from __future__ import annotations

import re

import pytest

from pybpf.bcc import rewriter
from pybpf.bcc._maps import METHODS
from pybpf.bcc.rewriter import PLACEHOLDER_SECTION, rewrite, section_for
from pybpf.errors import CompileError

EXECVE_FMT = """name: sys_enter_execve
ID: 862
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;
\tfield:const char *const * envp;\toffset:32;\tsize:8;\tsigned:0;

print fmt: "filename: 0x%08lx", ((unsigned long)(REC->filename))
"""


def fake_format(cat: str, ev: str) -> str:
    if (cat, ev) == ("syscalls", "sys_enter_execve"):
        return EXECVE_FMT
    raise FileNotFoundError(f"tracepoint {cat}:{ev} does not exist")


def rw(src: str, **kw):
    kw.setdefault("tp_format", fake_format)
    kw.setdefault("page_size", 4096)
    return rewrite(src, **kw)


def body(r) -> str:
    """The rewritten text after the prologue's #line directive."""
    return r.text.split("#line 1 ", 1)[1].split("\n", 1)[1]


# ------------------------------------------------------------------ tables
@pytest.mark.parametrize("decl, expect", [
    ("BPF_HASH(h);", ["BPF_MAP_TYPE_HASH", "__type(key, u64)", "__type(value, u64)", "max_entries, 10240"]),
    ("BPF_HASH(h, u32);", ["__type(key, u32)", "__type(value, u64)"]),
    ("BPF_HASH(h, struct key_t, u32, 99);", ["__type(key, struct key_t)", "__type(value, u32)", "max_entries, 99"]),
    ("BPF_ARRAY(a);", ["BPF_MAP_TYPE_ARRAY", "__type(key, int)", "__type(value, u64)", "max_entries, 10240"]),
    ("BPF_ARRAY(a, struct v_t, 4);", ["__type(value, struct v_t)", "max_entries, 4"]),
    ("BPF_PERCPU_ARRAY(a, u32, 2);", ["BPF_MAP_TYPE_PERCPU_ARRAY", "__type(value, u32)"]),
    ("BPF_PERCPU_HASH(a, u32);", ["BPF_MAP_TYPE_PERCPU_HASH", "__type(key, u32)"]),
    ("BPF_HISTOGRAM(d);", ["__builtin_types_compatible_p(int, int) ? BPF_MAP_TYPE_ARRAY : BPF_MAP_TYPE_HASH",
                           "__type(key, int)", "__type(value, u64)", "max_entries, 64"]),
    ("BPF_HISTOGRAM(d, struct hk, 128);", ["__builtin_types_compatible_p(struct hk, int)", "max_entries, 128"]),
    ("BPF_LPM_TRIE(t, struct lpm_key);", ["BPF_MAP_TYPE_LPM_TRIE", "map_flags, BPF_F_NO_PREALLOC"]),
    ("BPF_STACK_TRACE(st, 1024);", ["BPF_MAP_TYPE_STACK_TRACE", "__type(value, struct bpf_stacktrace)"]),
    ("BPF_PERF_OUTPUT(ev);", ["BPF_MAP_TYPE_PERF_EVENT_ARRAY", "key_size, sizeof(int)", "value_size, sizeof(u32)"]),
    ("BPF_RINGBUF_OUTPUT(rb, 8);", ["BPF_MAP_TYPE_RINGBUF", "max_entries, ((8) * 4096)"]),
    ("BPF_PROG_ARRAY(jmp, 8);", ["BPF_MAP_TYPE_PROG_ARRAY", "max_entries, 8"]),
    ("BPF_QUEUE(q, u32, 16);", ["BPF_MAP_TYPE_QUEUE", "__type(value, u32)", "max_entries, 16"]),
    ("BPF_STACK(s, u64, 16, BPF_F_NO_PREALLOC);", ["BPF_MAP_TYPE_STACK", "map_flags, BPF_F_NO_PREALLOC"]),
    ('BPF_TABLE("lru_hash", u32, u64, l, 100);', ["BPF_MAP_TYPE_LRU_HASH", "__type(key, u32)", "max_entries, 100"]),
    ('BPF_F_TABLE("hash", u32, u64, f, 100, BPF_F_NO_PREALLOC);', ["map_flags, BPF_F_NO_PREALLOC"]),
    ('BPF_TABLE("percpu_array", int, u64, pa, 4);', ["BPF_MAP_TYPE_PERCPU_ARRAY"]),
])
def test_table_macros(decl, expect):
    r = rw(decl + "\n")
    out = body(r)
    assert 'SEC(".maps");' in out
    for e in expect:
        assert e in out, (e, out)
    assert len(r.tables) == 1


def test_map_of_maps_refers_to_inner_table():
    r = rw('BPF_ARRAY(ex1, u64, 4);\nBPF_ARRAY_OF_MAPS(outer, "ex1", 8);\nBPF_HASH_OF_MAPS(h, u32, "ex1", 4);\n')
    out = body(r)
    assert "BPF_MAP_TYPE_ARRAY_OF_MAPS" in out and "__array(values, typeof(ex1));" in out
    assert "BPF_MAP_TYPE_HASH_OF_MAPS" in out and "__type(key, u32)" in out
    assert r.tables["outer"].inner == "ex1"


@pytest.mark.parametrize("src, msg", [
    ('\n\nBPF_TABLE("nope", u32, u64, t, 1);', ":3: error: BPF_TABLE(): unknown table type"),
    ("BPF_HASH(a, b, c, d, e);", ":1: error: BPF_HASH() takes 1 to 4 arguments, got 5"),
    ('BPF_ARRAY_OF_MAPS(o, "missing", 2);', "inner table 'missing' must be declared before it"),
    ("BPF_HASH(x);\nBPF_HASH(x);", ":2: error: table 'x' declared twice"),
    ('BPF_TABLE("extern", u32, u64, t, 1);', "not supported"),
])
def test_table_errors(src, msg):
    with pytest.raises(CompileError) as ei:
        rw(src, filename="prog.c")
    assert msg in str(ei.value)
    assert str(ei.value).startswith("prog.c:")


# ------------------------------------------------------------------ methods
def _methods(src_body: str, decls: str = "BPF_HASH(m, u32, u64);\n") -> str:
    return body(rw(decls + "int f(void *ctx) {\n" + src_body + "\n return 0; }\n"))


def test_lookup_is_typed():
    out = _methods("u64 *v = m.lookup(&k);")
    assert "((typeof(m.value))bpf_map_lookup_elem((void *)&m, &k))" in out


@pytest.mark.parametrize("call, expect", [
    ("m.update(&k, &v);", "bpf_map_update_elem((void *)&m, &k, &v, BPF_ANY);"),
    ("m.insert(&k, &v);", "bpf_map_update_elem((void *)&m, &k, &v, BPF_NOEXIST);"),
    ("m.delete(&k);", "bpf_map_delete_elem((void *)&m, &k);"),
])
def test_simple_methods(call, expect):
    assert expect in _methods(call)


def test_increment_default_and_explicit():
    out = _methods("m.increment(k);\nm.increment(k, 5);\nm.atomic_increment(k);")
    assert out.count("__sync_fetch_and_add") == 3
    assert "(5)" in out
    assert "typeof(*m.key)" in out and "BPF_NOEXIST" in out


def test_percpu_increment_is_plain_add():
    out = _methods("m.increment(k);\nm.atomic_increment(k);", "BPF_PERCPU_ARRAY(m, u64, 4);\n")
    assert out.count("__sync_fetch_and_add") == 1
    assert "+= (1);" in out


def test_lookup_or_try_init():
    out = _methods("u64 *v = m.lookup_or_try_init(&k, &zero);")
    assert "bpf_map_update_elem((void *)&m, __bcc_k" in out and "BPF_NOEXIST" in out


@pytest.mark.parametrize("decl, call, expect", [
    ("BPF_PERF_OUTPUT(ev);", "ev.perf_submit(ctx, &d, sizeof(d));",
     "bpf_perf_event_output(ctx, (void *)&ev, BPF_F_CURRENT_CPU, &d, sizeof(d));"),
    ("BPF_PERF_OUTPUT(ev);", "ev.perf_submit_skb(ctx, len, &d, sizeof(d));",
     "bpf_perf_event_output(ctx, (void *)&ev, (((__u64)(len)) << 32) | BPF_F_CURRENT_CPU, &d, sizeof(d));"),
    ("BPF_RINGBUF_OUTPUT(rb, 1);", "rb.ringbuf_output(&d, sizeof(d), 0);",
     "bpf_ringbuf_output((void *)&rb, &d, sizeof(d), 0);"),
    ("BPF_RINGBUF_OUTPUT(rb, 1);", "p = rb.ringbuf_reserve(16);", "p = bpf_ringbuf_reserve((void *)&rb, 16, 0);"),
    ("BPF_RINGBUF_OUTPUT(rb, 1);", "rb.ringbuf_submit(p, 0);", "bpf_ringbuf_submit(p, 0);"),
    ("BPF_RINGBUF_OUTPUT(rb, 1);", "rb.ringbuf_discard(p, 0);", "bpf_ringbuf_discard(p, 0);"),
    ("BPF_PROG_ARRAY(j, 4);", "j.call(ctx, 2);", "bpf_tail_call(ctx, (void *)&j, 2);"),
    ("BPF_QUEUE(q, u32, 4);", "q.push(&v, 0);", "bpf_map_push_elem((void *)&q, &v, 0);"),
    ("BPF_QUEUE(q, u32, 4);", "q.pop(&v);", "bpf_map_pop_elem((void *)&q, &v);"),
    ("BPF_STACK(q, u32, 4);", "q.peek(&v);", "bpf_map_peek_elem((void *)&q, &v);"),
    ("BPF_STACK_TRACE(st, 64);", "id = st.get_stackid(ctx, BPF_F_USER_STACK);",
     "id = bpf_get_stackid(ctx, (void *)&st, BPF_F_USER_STACK);"),
    ("BPF_DEVMAP(dm, 4);", "return dm.redirect_map(1, 0);", "return bpf_redirect_map((void *)&dm, 1, 0);"),
])
def test_helper_methods(decl, call, expect):
    assert expect in _methods(call, decl + "\n")


def test_nested_calls_and_multiline_keep_lines():
    src = ("BPF_HASH(a, u32, u64);\nBPF_HASH(b, u32, u64);\nint f(void *ctx) {\n"
           "  a.update(&k,\n           b.lookup(&x));\n  int marker_line6;\n  return 0; }\n")
    out = body(rw(src))
    assert "bpf_map_update_elem((void *)&a, &k, ((typeof(b.value))bpf_map_lookup_elem((void *)&b, &x)), BPF_ANY)" \
        in out
    assert out.split("\n")[5].strip() == "int marker_line6;"


def test_strings_and_comments_untouched():
    src = ('BPF_HASH(m);\nint f(void *ctx) {\n  bpf_trace_printk("m.lookup(&k) %d\\n", 1);\n'
           '  /* m.delete(&k); */ // m.update(&a, &b);\n  return 0; }\n')
    out = body(rw(src))
    assert '"m.lookup(&k) %d\\n"' in out
    assert "bpf_map_delete_elem" not in out and "bpf_map_update_elem" not in out


def test_member_named_like_table_is_not_a_method_call():
    out = _methods("s.m.lookup(&k); p->m.update(&a);")
    assert "bpf_map_lookup_elem" not in out and "bpf_map_update_elem" not in out


def test_methods_inside_macros():
    src = "BPF_HASH(m);\n#define BUMP(k) \\\n    m.increment(k)\nint f(void *ctx) { BUMP(1); return 0; }\n"
    out = body(rw(src))
    assert "#define BUMP(k) \\\n" in out
    assert "__sync_fetch_and_add" in out.split("\n")[2]
    assert out.split("\n")[3].startswith('SEC("kprobe") int f')


@pytest.mark.parametrize("call, msg", [
    ("m.frobnicate(&k);", "m.frobnicate(): unknown table method"),
    ("m.update(&k);", "m.update() takes 2 arguments, got 1"),
])
def test_method_errors(call, msg):
    with pytest.raises(CompileError) as ei:
        rw("BPF_HASH(m);\nint f(void *ctx) {\n\n" + call + "\nreturn 0; }\n", filename="x.c")
    assert f"x.c:4: error: {msg}" in str(ei.value)


def test_every_method_has_an_expansion():
    assert {"lookup", "update", "insert", "delete", "increment", "atomic_increment", "lookup_or_try_init",
            "perf_submit", "ringbuf_output", "ringbuf_reserve", "ringbuf_submit", "ringbuf_discard", "call", "push",
            "pop", "peek", "get_stackid"} <= set(METHODS)


# ------------------------------------------------------------------ event record types
def test_event_types_inferred():
    src = """struct data_t { u32 pid; };
typedef struct { u64 x; } rec_t;
BPF_PERF_OUTPUT(events);
BPF_RINGBUF_OUTPUT(rb, 1);
BPF_RINGBUF_OUTPUT(rb2, 1);
BPF_PERF_OUTPUT(ev3);
int f(void *ctx) {
    struct data_t data = {};
    events.perf_submit(ctx, &data, sizeof(data));
    rec_t *r = rb.ringbuf_reserve(sizeof(*r));
    if (r) rb.ringbuf_submit(r, 0);
    rb2.ringbuf_output(&data, sizeof(data), 0);
    ev3.perf_submit(ctx, buf, sizeof(struct data_t));
    return 0;
}
"""
    r = rw(src)
    assert r.event_types == {"events": "struct data_t", "rb": "rec_t", "rb2": "struct data_t",
                             "ev3": "struct data_t"}
    assert "int __bcc_event_events(struct data_t *__e) { return 0; }" in r.text


# ------------------------------------------------------------------ functions and sections
@pytest.mark.parametrize("name, sec, kind, target", [
    ("kprobe__do_sys_open", "kprobe/do_sys_open", "kprobe", "do_sys_open"),
    ("kretprobe__tcp_v4_connect", "kretprobe/tcp_v4_connect", "kretprobe", "tcp_v4_connect"),
    ("tracepoint__sched__sched_switch", "tracepoint/sched/sched_switch", "tracepoint", "sched:sched_switch"),
    ("raw_tracepoint__sys_enter", "raw_tracepoint/sys_enter", "raw_tracepoint", "sys_enter"),
    ("kfunc__vmlinux__do_unlinkat", "fentry/do_unlinkat", "kfunc", "do_unlinkat"),
    ("kfunc__do_unlinkat", "fentry/do_unlinkat", "kfunc", "do_unlinkat"),
    ("kretfunc__vmlinux__do_unlinkat", "fexit/do_unlinkat", "kretfunc", "do_unlinkat"),
    ("lsm__bpf", "lsm/bpf", "lsm", "bpf"),
    ("kmod_ret__x", "fmod_ret/x", "kmod_ret", "x"),
    ("my_xdp", None, None, ""),
])
def test_section_for(name, sec, kind, target):
    assert section_for(name) == (sec, kind, target)


def test_program_detection():
    src = """static int helper(int x) { return x; }
static __always_inline int h2(void *ctx) { return 0; }
int global_noctx(int a) { return a; }
int xdp_prog(struct xdp_md *ctx) { return XDP_PASS; }
int kprobe__do_nanosleep(struct pt_regs *ctx) { return 0; }
SEC("socket") int explicit(struct __sk_buff *skb) { return 0; }
struct s { int a; };
int arr[] = {1, 2};
TRACEPOINT_PROBE(syscalls, sys_enter_execve) { return args->__syscall_nr; }
RAW_TRACEPOINT_PROBE(sched_switch) { return 0; }
KFUNC_PROBE(do_unlinkat, int dfd) { return 0; }
LSM_PROBE(bpf, int cmd) { return 0; }
int tracepoint__syscalls__sys_enter_execve2(struct tracepoint__syscalls__sys_enter_execve *args) { return 0; }
"""
    r = rw(src)
    f = r.functions
    assert set(f) == {"xdp_prog", "kprobe__do_nanosleep", "explicit", "tracepoint__syscalls__sys_enter_execve",
                      "raw_tracepoint__sched_switch", "kfunc__vmlinux__do_unlinkat", "lsm__bpf",
                      "tracepoint__syscalls__sys_enter_execve2"}
    assert f["xdp_prog"].section == PLACEHOLDER_SECTION and f["xdp_prog"].kind is None
    assert f["explicit"].section == "socket"
    assert f["kprobe__do_nanosleep"].section == "kprobe/do_nanosleep"
    assert f["tracepoint__syscalls__sys_enter_execve"].line == 9
    out = body(r)
    assert 'SEC("tracepoint/syscalls/sys_enter_execve") TRACEPOINT_PROBE(syscalls, sys_enter_execve)' in out
    assert 'SEC("raw_tracepoint/sched_switch") RAW_TRACEPOINT_PROBE(sched_switch)' in out
    assert 'SEC("fentry/do_unlinkat") KFUNC_PROBE(do_unlinkat, int dfd)' in out
    assert 'SEC("lsm/bpf") LSM_PROBE(bpf, int cmd)' in out
    assert out.count('SEC("socket")') == 1
    assert "static int helper" in out and 'SEC("kprobe") static' not in out
    assert 'SEC("kprobe") int global_noctx' not in out
    assert r.tracepoints == [("syscalls", "sys_enter_execve")]
    assert "struct tracepoint__syscalls__sys_enter_execve {" in r.text


def test_kprobe_arguments_from_registers():
    src = ("int kprobe__do_sys_open(struct pt_regs *regs, int dfd,\n"
           "                        const char __user *filename) {\n  return dfd; }\n"
           "int syscall__execve(struct pt_regs *ctx, const char *fn) { return 0; }\n"
           "int kretprobe__x(struct pt_regs *ctx) { return 0; }\n")
    out = body(rw(src))
    lines = out.split("\n")
    assert lines[0].startswith('SEC("kprobe/do_sys_open") int BPF_KPROBE(kprobe__do_sys_open, int dfd, '
                               'const char __user *filename)')
    assert lines[1].strip().startswith("{ struct pt_regs *regs = ctx;")
    assert lines[2] == "  return dfd; }"
    assert "int BPF_KSYSCALL(syscall__execve, const char *fn)" in out
    assert "int kretprobe__x(struct pt_regs *ctx)" in out


def test_line_numbers_are_preserved():
    src = "\n".join([
        "#include <linux/sched.h>",
        "BPF_HASH(counts, u32,",
        "         u64, 64);",
        "int kprobe__f(struct pt_regs *ctx,",
        "              int a) {",
        "    counts.increment(a,",
        "                     2);",
        "    int line8;",
        "}",
        "int line10;",
    ]) + "\n"
    out = body(rw(src))
    lines = out.split("\n")
    assert lines[7].strip() == "int line8;"
    assert lines[9] == "int line10;"


def test_includes():
    src = "#include <linux/sched.h>\n#include <linux/blkdev.h>\n#include <net/tcp_states.h>\n" \
          "#include <linux/nonexistent/x.h>\n#include \"mine.h\"\n#include <stdint.h>\n"
    r = rw(src)
    out = body(r)
    assert "#include <linux/sched.h>" in out and "#include <linux/blkdev.h>" in out
    assert "served by vmlinux.h" in out and r.dropped_includes == ["net/tcp_states.h", "linux/nonexistent/x.h"]
    assert '#include "mine.h"' in out and "#include <stdint.h>" in out


def test_user_include_dir_wins(tmp_path):
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp_states.h").write_text("/* mine */\n")
    r = rw("#include <net/tcp_states.h>\n", include_dirs=[str(tmp_path)])
    assert r.dropped_includes == []


def test_license_added_unless_present():
    assert 'char _license[] SEC("license") = "GPL";' in rw("int x;\n").text
    r = rw('char LICENSE[] SEC("license") = "Dual BSD/GPL";\n')
    assert r.text.count('SEC("license")') == 1


def test_prologue_and_line_directive():
    r = rw("int x;\n", filename="dir/my prog.c")
    head, _ = r.text.split("#line 1 ", 1)
    assert head.startswith('#include "vmlinux.h"\n#include <bcc_compat.h>\n')
    assert '#line 1 "dir/my prog.c"\n' in r.text


@pytest.mark.parametrize("src, included", [
    ("int f(struct pt_regs *ctx) { u64 a; bpf_usdt_readarg(1, ctx, &a); return 0; }\n", True),
    ("int f(struct pt_regs *ctx) { char b[8]; return bpf_usdt_readarg_p(2, ctx, b, 8); }\n", True),
    ("int BPF_USDT(f, int a, long b) { return a; }\n", True),
    ('int f(struct pt_regs *ctx) { /* bpf_usdt_readarg(1, ctx, &a) */ return 0; }\n', False),
    ('int f(struct pt_regs *ctx) { bpf_trace_printk("bpf_usdt_readarg(1)"); return 0; }\n', False),
    ("int f(struct pt_regs *ctx) { return my_bpf_usdt_readarg(1); }\n", False),
])
def test_usdt_header_only_when_arguments_are_read(src, included):
    head = rw(src).text.split("#line 1 ", 1)[0]
    assert ("#include <bcc_usdt.h>\n" in head) is included


def test_bpf_usdt_wrapper_is_a_program():
    r = rw("int BPF_USDT(on_probe, int a, long b) { return a; }\n")
    assert r.functions["on_probe"].section == PLACEHOLDER_SECTION and r.functions["on_probe"].kind is None
    assert body(r).startswith('SEC("kprobe") int BPF_USDT(on_probe, int a, long b)')


def test_unknown_tracepoint_is_a_compile_error():
    with pytest.raises(CompileError, match="nope:nothing does not exist"):
        rw("TRACEPOINT_PROBE(nope, nothing) { return 0; }\n")


def test_include_dir_has_the_headers():
    import os

    d = rewriter.include_dir()
    for h in ("bcc_compat.h", "bcc_consts.h", "bcc_usdt.h", "bcc/proto.h", "linux/sched.h", "net/sock.h",
              "linux/if_ether.h", "linux/ip.h", "linux/ipv6.h", "linux/tcp.h", "linux/udp.h", "linux/in.h",
              "uapi/linux/ptrace.h", "linux/pkt_cls.h", "linux/bpf.h", "linux/fs.h"):
        assert os.path.isfile(os.path.join(d, h)), h
    consts = open(os.path.join(d, "bcc_consts.h")).read()
    for name, value in (("ETH_P_IP", "0x0800"), ("ETH_P_IPV6", "0x86DD"), ("IPPROTO_TCP", "6"),
                        ("IPPROTO_UDP", "17"), ("TC_ACT_OK", "0"), ("TC_ACT_SHOT", "2"), ("XDP_DROP", "1"),
                        ("AF_INET6", "10"), ("EPERM", "1"), ("TASK_COMM_LEN", "16")):
        assert re.search(rf"#define {name}\s+{re.escape(value)}\b", consts), name


# ------------------------------------------------------------------ tables named like vmlinux.h identifiers
CLASH_SRC = r'''#include <linux/config.h>
struct user_msg_t { char message[12]; };
BPF_HASH(config, u32, struct user_msg_t);
BPF_ARRAY_OF_MAPS(outer, "config", 4);
BPF_PERF_OUTPUT(output);
#define CFG &config
struct data_t { int config; struct config *c; };
int hello(void *ctx) {
   struct data_t data = {.config = 1};
   struct user_msg_t *p;
   u32 uid = 1;
   data.config = 2;
   p = config.lookup(&uid);
   p = bpf_map_lookup_elem(&config, &uid);
   p = bpf_map_lookup_elem(CFG, &uid);
   typeof(config.value) q = 0;
   output.perf_submit(ctx, &data, sizeof(data));
   config.update(&uid,
                 config.lookup(&uid));
   bpf_map_update_elem(&config, &uid, config.lookup(&uid), 0);
   bpf_trace_printk("config %d", 1); // config
   return 0;
}
'''


def test_table_clashing_with_vmlinux_identifier_is_renamed():
    r = rw(CLASH_SRC, reserved={"config", "unused"})
    out = body(r)
    d = r.tables["config"]
    assert d.name == "config" and d.cname == d.var == "__bcc_tbl_config"
    assert r.tables["output"].var == "output" and r.tables["output"].cname == ""
    assert '} __bcc_tbl_config SEC(".maps");' in out
    assert "__array(values, typeof(__bcc_tbl_config));" in out
    assert "#define CFG &__bcc_tbl_config" in out
    assert "bpf_map_lookup_elem((void *)&__bcc_tbl_config, &uid)" in out
    assert "p = bpf_map_lookup_elem(&__bcc_tbl_config, &uid);" in out
    assert "typeof(__bcc_tbl_config.value) q = 0;" in out
    assert "bpf_map_update_elem(&__bcc_tbl_config, &uid, ((typeof(__bcc_tbl_config.value))" in out
    # not the table: members, designated initialisers, struct tags, strings, comments, #include
    assert "struct data_t { int config; struct config *c; };" in out
    assert "{.config = 1}" in out and "data.config = 2;" in out
    assert '"config %d"' in out and "<linux/config.h>" in out
    assert not re.search(r"(?<![\w.<])config(?![\w.>])", re.sub(r'"[^"]*"|//.*|struct config|int config', "", out))
    # line numbers kept: each user line is still on its own line
    lines = out.split("\n")
    assert lines[12].strip().startswith("p = ((typeof(__bcc_tbl_config.value))")
    assert lines[19].strip().startswith("bpf_map_update_elem(&__bcc_tbl_config")


def test_table_names_not_reserved_are_kept():
    r = rw(CLASH_SRC, reserved=())
    out = body(r)
    assert r.tables["config"].var == "config" and "__bcc_tbl_" not in out
    assert "} config SEC" in out
    r = rw("BPF_HASH(DROP, u32, u64);\nint f(void *ctx) { DROP.increment(1); return 0; }\n",
           reserved=lambda n: n == "DROP")
    assert "__bcc_tbl_DROP" in body(r) and not re.search(r"(?<!_)DROP\b", body(r))


def test_vmlinux_identifier_uses_kernel_btf():
    import os

    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no kernel BTF")
    from pybpf.btf import BTF

    btf = BTF.load_vmlinux()
    if not btf.find_all("config", "TYPEDEF"):
        pytest.skip("this kernel has no 'config' typedef")
    assert rewriter.vmlinux_identifier("config")           # typedef struct config_s config;
    assert not rewriter.vmlinux_identifier("config_s")     # a struct tag does not clash
    assert not rewriter.vmlinux_identifier("my_counts_tbl")
    assert rewriter.vmlinux_identifier("BPF_MAP_TYPE_HASH")  # an enumerator
    r = rewrite("BPF_HASH(config, u32, u64);\nBPF_HASH(counts_xyz);\n", tp_format=fake_format)
    assert r.tables["config"].var == "__bcc_tbl_config" and r.tables["counts_xyz"].var == "counts_xyz"


# ------------------------------------------------------------------ BCC tools' idioms
def test_function_without_parameters_is_a_program():
    r = rw("int do_perf_event()\n{\n    return 0;\n}\nint helper(void) { return 1; }\n"
           "int uses(struct pt_regs *ctx) { return helper(); }\n")
    assert "do_perf_event" in r.functions and "helper" not in r.functions
    b = body(r)
    assert 'SEC("kprobe") int do_perf_event(void *ctx)' in b and "int helper(void)" in b
    assert set(r.defined) == {"do_perf_event", "helper", "uses"}


def test_tables_in_exclusive_branches():
    src = ("#ifdef LATENCY\nstruct data_t { u64 count; u64 total_ns; };\nBPF_HASH(data, u32, struct data_t);\n"
           "#else\nBPF_HASH(data, u32, u64);\n#endif\n"
           "#ifdef LATENCY\nint a(void *ctx) { u32 k = 0; struct data_t *v = data.lookup(&k); return v != 0; }\n"
           "#else\nint a(void *ctx) { data.increment(1); return 0; }\n#endif\n")
    r = rw(src)
    assert r.tables["data"].leaf == "struct data_t"          # Python side: BTF gives the surviving one's types
    b = body(r)
    assert b.count("} data SEC(\".maps\")") == 2
    assert "typeof(data.value)" in b                          # each branch's calls use their own declaration
    with pytest.raises(CompileError, match="declared twice"):
        rw("BPF_HASH(data, u32, u64);\n#ifdef X\nBPF_HASH(data, u32, u32);\n#endif\n")
    with pytest.raises(CompileError, match="declared twice"):
        rw("#if A\nBPF_HASH(d);\n#endif\n#if B\nBPF_HASH(d);\n#endif\n")


def test_conditionals_exclusive_paths():
    from pybpf.bcc._clex import Conditionals, directive_spans, mask

    src = "a\n#if X\nb\n#elif Y\nc\n#else\nd\n#if Z\ne\n#endif\n#endif\nf\n"
    m = mask(src)
    c = Conditionals(m, directive_spans(m))
    at = {ch: ("\n" + src).index(f"\n{ch}\n") for ch in "abcdef"}
    p = {ch: c.path(at[ch]) for ch in at}
    assert p["a"] == p["f"] == ()
    assert c.exclusive(p["b"], p["c"]) and c.exclusive(p["b"], p["e"]) and c.exclusive(p["c"], p["d"])
    assert not c.exclusive(p["d"], p["e"]) and not c.exclusive(p["a"], p["b"])


def test_kernel_struct_redefinition_becomes_a_declaration():
    src = ("struct mount {\n    struct hlist_node mnt_hash;\n#if 1\n    struct mount *mnt_parent;\n#endif\n};\n"
           "struct my_t { int x; };\ntypedef struct nameidata { int y; } nd_t;\n")
    kernel = {"mount": {"mnt_hash", "mnt_parent", "mnt"}, "nameidata": {"path"}, "sock": {"__sk_common"}}
    r = rw(src, kernel_records=kernel)
    b = body(r)
    assert re.search(r"^struct mount\s*;", b, re.M) and "mnt_hash" not in b and "mnt_parent" not in b
    assert "struct my_t { int x; };" in b and "typedef struct nameidata { int y; } nd_t;" in b
    assert b.count("\n") == src.count("\n") + 2  # + the license line; lines kept
    assert not r.user_records
    # members the kernel's struct lacks (outside #if sections): the source keeps its own layout
    src = ("struct sock {\n#if 0\n    int gone;\n#endif\n    u32 *sk_daddr;\n};\n"
           "int test(struct pt_regs *ctx, struct sock *skp) { return *(skp->sk_daddr); }\n")
    r = rw(src, kernel_records=kernel)
    b = body(r)
    assert r.user_records == {"__bcc_user_sock": "sock"}
    assert "struct __bcc_user_sock {" in b and "struct __bcc_user_sock *skp" in b and "struct sock" not in b
