// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Chapter 7: one small program per attach type.
 *
 * The SEC() name tells the loader the program type (and, for BTF-based
 * types, the attach target it must be loaded against); the runner attaches
 * each one, triggers it from its own process and reads the global counters
 * below back from the .bss map.
 *
 * Runs on a kernel without kprobes and without BPF trampolines:
 *   tracepoint, raw_tp, tp_btf, uprobe/uretprobe, perf_event, iter/task,
 *   xdp, tc, tcx.
 * Needs CONFIG_KPROBES: kprobe, kretprobe.
 * Needs BPF trampolines (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS and an
 * arch JIT that supports them): fentry, fexit; plus "bpf" in the active
 * LSM list for lsm.
 *
 * The tracing programs count only events of the process whose tgid user
 * space writes into target_tgid (a .rodata constant set before loading).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define TC_ACT_OK 0
#define TCX_NEXT -1

const volatile u32 target_tgid = 0;

u64 tracepoint_hits, raw_tp_hits, tp_btf_hits, uprobe_hits, uretprobe_hits;
u64 perf_event_hits, xdp_hits, tc_hits, tcx_hits;
u64 kprobe_hits, kretprobe_hits, fentry_hits, fexit_hits, lsm_hits;
long last_syscall, uprobe_arg, uretprobe_ret;
char exec_filename[64], exec_comm[16];

static __always_inline bool mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

/* ---------------------------------------------------------- runnable here */

/* A tracepoint: the stable tracefs event, context laid out by its format file. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int on_tracepoint(void *ctx)
{
	if (mine())
		__sync_fetch_and_add(&tracepoint_hits, 1);
	return 0;
}

/* A raw tracepoint: the tracepoint's raw arguments (here: regs, syscall id). */
SEC("raw_tp/sys_enter")
int BPF_PROG(on_raw_tp, struct pt_regs *regs, long id)
{
	if (mine()) {
		__sync_fetch_and_add(&raw_tp_hits, 1);
		last_syscall = id;
	}
	return 0;
}

/* A BTF-enabled tracepoint: typed arguments the program may dereference directly. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_tp_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (p->real_parent->tgid != target_tgid)	/* direct loads, no probe reads */
		return 0;
	__sync_fetch_and_add(&tp_btf_hits, 1);
	bpf_probe_read_kernel_str(exec_filename, sizeof(exec_filename), bprm->filename);
	__builtin_memcpy(exec_comm, p->comm, sizeof(exec_comm));
	return 0;
}

/* A uprobe and a uretprobe: entry argument and return value of a user-space function. */
SEC("uprobe")
int BPF_UPROBE(on_uprobe, long x)
{
	__sync_fetch_and_add(&uprobe_hits, 1);
	uprobe_arg = x;
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(on_uretprobe, long ret)
{
	__sync_fetch_and_add(&uretprobe_hits, 1);
	uretprobe_ret = ret;
	return 0;
}

/* A perf event program: runs on every sample of a (here: CPU clock) perf event. */
SEC("perf_event")
int on_perf_event(struct bpf_perf_event_data *ctx)
{
	if (mine())
		__sync_fetch_and_add(&perf_event_hits, 1);
	return 0;
}

/* A task iterator: one call per task; what it writes is what read() returns. */
SEC("iter/task")
int on_iter_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	if (ctx->meta->seq_num == 0)
		BPF_SEQ_PRINTF(seq, "%8s %8s %s\n", "TGID", "PID", "COMMAND");
	BPF_SEQ_PRINTF(seq, "%8d %8d %s\n", task->tgid, task->pid, task->comm);
	return 0;
}

/* Network programs: count packets, let them through. */
SEC("xdp")
int on_xdp(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&xdp_hits, 1);
	return XDP_PASS;
}

SEC("tc")
int on_tc(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&tc_hits, 1);
	return TC_ACT_OK;
}

SEC("tcx/ingress")
int on_tcx(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&tcx_hits, 1);
	return TCX_NEXT;
}

/* ------------------------------------------ not runnable on every kernel */

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(on_kprobe, int dfd, const char *filename)
{
	if (mine())
		__sync_fetch_and_add(&kprobe_hits, 1);
	return 0;
}

SEC("kretprobe/do_sys_openat2")
int BPF_KRETPROBE(on_kretprobe, long ret)
{
	if (mine())
		__sync_fetch_and_add(&kretprobe_hits, 1);
	return 0;
}

SEC("fentry/do_sys_openat2")
int BPF_PROG(on_fentry, int dfd, const char *filename)
{
	if (mine())
		__sync_fetch_and_add(&fentry_hits, 1);
	return 0;
}

SEC("fexit/do_sys_openat2")
int BPF_PROG(on_fexit, int dfd, const char *filename, struct open_how *how, long ret)
{
	if (mine())
		__sync_fetch_and_add(&fexit_hits, 1);
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(on_lsm, struct file *file)
{
	if (mine())
		__sync_fetch_and_add(&lsm_hits, 1);
	return 0;	/* 0: allow */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
