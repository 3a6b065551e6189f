"""pybpf.bcc._deref: kernel memory reads rewritten into probe reads on clang's AST (no root, no kernel load).

The pass runs the compiler's clang on C snippets; the results are compiled with
pybpf.compile to check that they build and count the probe-read helper calls.
"""

from __future__ import annotations

import os
import re

import pytest

from pybpf import elf
from pybpf.bcc import _deref
from pybpf.bcc.rewriter import include_dir, rewrite
from pybpf.compile import compile, syntax, toolchain

pytestmark = pytest.mark.skipif(
    toolchain.zig_path() is None or not os.path.exists("/sys/kernel/btf/vmlinux"),
    reason="needs the ziglang compiler and kernel BTF")

DEFINES = {"__BCC__": None}
SCHED_SWITCH_FMT = """name: sched_process_exit
ID: 1
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;

print fmt: "comm=%s pid=%d", REC->comm, REC->pid
"""


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path / "cache"))


def _fmt(cat: str, ev: str) -> str:
    return SCHED_SWITCH_FMT


def deref(src: str):
    """(rewritten BCC text, text after the probe-read pass)."""
    rw = rewrite(src, tp_format=_fmt, page_size=4096)
    out = _deref.probe_reads(rw, include_dirs=[include_dir()], defines=DEFINES) if _deref.wanted(rw) else rw.text
    return rw, out


def body(text: str) -> str:
    return text.split("#line 1 ", 1)[1].split("\n", 1)[1]


def probe_calls(text: str, prog: str) -> int:
    """Probe-read helper calls (bpf_probe_read: 4, bpf_probe_read_kernel: 113) in program ``prog``
    of the compiled ``text``."""
    spec = elf.open(bytes(compile(text, include_dirs=[include_dir()], defines=DEFINES)))
    return sum(str(i) in ("call 0x4", "call 0x71") for i in spec.programs[prog].instructions)


def test_nested_reads_become_nested_probe_reads():
    rw, out = deref(r'''
int kprobe__f(struct pt_regs *ctx) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    u32 ppid = t->real_parent->tgid;
    bpf_trace_printk("%d %d\n", ppid, t->pid);
    return 0;
}''')
    b = body(out)
    assert "__bcc_probe_read((void *)&__pybpf_v, sizeof(__pybpf_v), &(t->real_parent))" in b
    assert "typeof(t->real_parent->tgid) __pybpf_v" in b
    assert "&(({ typeof(t->real_parent) __pybpf_v;" in b          # the inner pointer is read first
    assert "&(t->pid)" in b                                       # inside bpf_trace_printk's arguments
    assert probe_calls(out, "kprobe__f") == 3
    assert out.count("\n") == rw.text.count("\n")                 # line numbers kept


def test_writes_addresses_sizeof_and_arrays_are_not_reads():
    _, out = deref(r'''
int kprobe__f(struct pt_regs *ctx) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    char comm[16];
    u64 n = sizeof(t->pid);
    bpf_probe_read_kernel(&n, sizeof(n), &t->pid);
    bpf_probe_read_kernel_str(comm, sizeof(comm), t->comm);
    bpf_probe_read_kernel_str(comm, sizeof(comm), t->group_leader->comm);
    return n;
}''')
    b = body(out)
    assert "sizeof(t->pid)" in b and "&t->pid)" in b and ", t->comm)" in b
    assert b.count("__bcc_probe_read((void *)&__pybpf_v") == 1   # only t->group_leader
    assert "&(t->group_leader))" in b


def test_multiline_expression_keeps_lines():
    rw, out = deref("int kprobe__f(struct pt_regs *ctx) {\n"
                    "    struct task_struct *t = (struct task_struct *)bpf_get_current_task();\n"
                    "    return t->\n        real_parent->\n        tgid;\n}\n")
    assert out.count("\n") == rw.text.count("\n")
    assert probe_calls(out, "kprobe__f") == 2


def test_context_and_tracepoint_args_are_direct():
    _, out = deref(r'''
int kprobe__f(struct pt_regs *ctx) {
    struct sock *sk = (struct sock *)PT_REGS_PARM1(ctx);
    return sk->__sk_common.skc_family + ctx->di;
}
TRACEPOINT_PROBE(sched, sched_process_exit) {
    return args->pid;
}
RAW_TRACEPOINT_PROBE(sched_switch) {
    struct task_struct *prev = (struct task_struct *)ctx->args[1];
    return prev->pid;
}''')
    b = body(out)
    assert "ctx->di" in b and "return args->pid;" in b and "ctx->args[1]" in b
    assert "&(sk->__sk_common.skc_family)" in b and "&(prev->pid)" in b
    assert probe_calls(out, "kprobe__f") == 1


def test_map_values_are_not_kernel_memory():
    _, out = deref(r'''
struct val_t { u64 ts; struct task_struct *task; };
BPF_HASH(start, u32, struct val_t);
BPF_HASH(addrs, u32, struct in6_addr);
int kprobe__f(struct pt_regs *ctx) {
    u32 k = 0;
    struct val_t *v = start.lookup(&k);
    struct in6_addr *a = addrs.lookup(&k);
    if (!v || !a)
        return 0;
    return v->ts + a->in6_u.u6_addr32[0] + v->task->pid;
}''')
    b = body(out)
    assert "v->ts" in b and "a->in6_u.u6_addr32[0]" in b and "&(v->task->pid)" in b
    assert probe_calls(out, "kprobe__f") == 1


def test_btf_and_packet_programs_are_direct():
    rw, out = deref(r'''
KFUNC_PROBE(do_exit, long code) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
    return t->pid;
}
int xdp_prog(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_DROP;
    return eth->h_proto == 8 ? XDP_PASS : XDP_DROP;
}''')
    assert out == rw.text


def test_locals_holding_kernel_pointers_and_derefs():
    _, out = deref(r'''
int kprobe__f(struct pt_regs *ctx) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    void *stack = t->stack;
    u64 word = *(u64 *)stack;
    struct mm_struct *mm;
    mm = t->mm;
    return word + mm->map_count;
}''')
    b = body(out)
    assert "&(*(u64 *)stack)" in b and "&(mm->map_count)" in b and "&(t->stack)" in b and "&(t->mm)" in b
    assert probe_calls(out, "kprobe__f") == 4


def test_bitfields_use_the_core_bitfield_reader():
    _, out = deref(r'''
int kprobe__f(struct pt_regs *ctx, struct sk_buff *skb) {
    return skb->pkt_type;
}''')
    assert "BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type)" in body(out)
    assert probe_calls(out, "kprobe__f") >= 1


def test_static_helpers_and_kprobe_arguments():
    _, out = deref(r'''
static u32 parent_of(struct task_struct *t) { return t->real_parent->tgid; }
int kprobe__wake_up_new_task(struct pt_regs *ctx, struct task_struct *p) {
    return parent_of(p) + p->pid;
}''')
    b = body(out)
    assert "&(t->real_parent)" in b and "&(p->pid)" in b
    assert probe_calls(out, "kprobe__wake_up_new_task") == 3


def test_function_named_like_a_kernel_member_is_still_handled():
    # renaming `tgid` for the AST dump also renames t->tgid: the pass retries without it
    _, out = deref(r'''
static u32 tgid(struct task_struct *t) { return t->tgid; }
int kprobe__f(struct pt_regs *ctx) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    return tgid(t) + t->pid;
}''')
    b = body(out)
    assert "&(t->pid)" in b and "return t->tgid;" in b


def test_no_kernel_pointer_no_pass(monkeypatch):
    rw = rewrite("BPF_HASH(c, u32, u64);\nTRACEPOINT_PROBE(sched, sched_process_exit) { c.increment(args->pid); "
                 "return 0; }\n", tp_format=_fmt)
    assert not _deref.wanted(rw)
    rw = rewrite("int kprobe__f(struct pt_regs *ctx, struct sock *sk) { return 0; }\n", tp_format=_fmt)
    assert _deref.wanted(rw)
    assert not _deref.kernel_record("pt_regs") or True  # pt_regs is a kernel struct; ctx parameters are excluded
    assert not _deref.kernel_record("__sk_buff") and not _deref.kernel_record("bpf_perf_event_data")
    assert _deref.kernel_record("task_struct") and not _deref.kernel_record("no_such_struct_xyz")


def test_ast_pass_is_cached(monkeypatch):
    src = "int kprobe__f(struct pt_regs *ctx, struct task_struct *p) { return p->pid; }\n"
    rw = rewrite(src, tp_format=_fmt)
    first = _deref.probe_reads(rw, include_dirs=[include_dir()], defines=DEFINES)
    assert "&(p->pid)" in first

    def no_process(*a, **k):
        raise AssertionError("the warm AST pass ran a process")
    monkeypatch.setattr(syntax, "_run_split", no_process)
    assert _deref.probe_reads(rw, include_dirs=[include_dir()], defines=DEFINES) == first


def test_clang_errors_leave_the_text_to_the_compile():
    rw = rewrite("int kprobe__f(struct pt_regs *ctx, struct task_struct *p) { return p->no_such; }\n",
                 tp_format=_fmt)
    assert _deref.probe_reads(rw, include_dirs=[include_dir()], defines=DEFINES) == rw.text


def test_redefined_kernel_struct_uses_the_kernel_layout():
    rw, out = deref(r'''
struct mnt_namespace {
#if 0
    atomic_t count;
#endif
    struct ns_common ns;
};
int kprobe__f(struct pt_regs *ctx) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    return t->nsproxy->mnt_ns->ns.inum;
}''')
    assert re.search(r"struct mnt_namespace\s*;", body(rw.text)) and "atomic_t count" not in rw.text
    assert probe_calls(out, "kprobe__f") == 3


def test_kprobe_arguments_addresses_and_returned_pointers():
    # BCC's data flow, as far as it goes here: a kprobe's pointer arguments, the address of
    # kernel memory, and what a helper returns from kernel memory are kernel pointers too
    _, out = deref(r'''
static unsigned char *payload(struct sk_buff *skb) { return skb->head + skb->transport_header; }
int kprobe__f(struct pt_regs *ctx, char *name, struct sock *sk, struct sk_buff *skb) {
    u32 *daddr = &sk->__sk_common.skc_daddr;
    u32 *seq = (u32 *)payload(skb) + 1;
    return name[1] + *daddr + *seq;
}''')
    b = body(out)
    assert "&(name[1])" in b and "&(*daddr)" in b and "&(*seq)" in b
    assert "&(skb->head)" in b and "&(skb->transport_header)" in b
    assert probe_calls(out, "kprobe__f") == 5


def test_own_definition_of_a_kernel_struct_is_still_kernel_memory():
    rw, out = deref(r'''
struct sock { u32 *sk_daddr; };
int kprobe__f(struct pt_regs *ctx, struct sock *skp) { return *(skp->sk_daddr); }''')
    assert rw.user_records == {"__bcc_user_sock": "sock"}
    assert "&((skp->sk_daddr))" in body(out) and probe_calls(out, "kprobe__f") == 2
