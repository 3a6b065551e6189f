// SPDX-License-Identifier: Apache-2.0
/* BTF-typed programs: BPF_PROG on
 * tp_btf, BPF_PROG2, direct bitfield reads, bpf_core_cast, __kptr fields. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct holder {
	struct task_struct __kptr *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct holder);
} kptrs SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	long st = BPF_CORE_READ_BITFIELD(prev, sched_reset_on_fork);
	struct task_struct *t = bpf_core_cast(next, struct task_struct);

	bpf_printk("%d -> %d %ld %d", prev->pid, next->pid, st, t->tgid);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG2(wakeup2, struct task_struct *, p)
{
	struct holder *h;
	int zero = 0;

	h = bpf_map_lookup_elem(&kptrs, &zero);
	if (h && h->task)
		bpf_printk("holding a task");
	bpf_printk("wakeup %d", p->pid);
	return 0;
}

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	int *v, sum = 0;

	if (!task)
		return 0;
	bpf_for_each(num, v, 0, 4)
		sum += *v;
	if (ctx->meta->seq_num == 0)
		BPF_SEQ_PRINTF(seq, "    tgid      pid  sum\n");
	BPF_SEQ_PRINTF(seq, "%8d %8d %4d\n", task->tgid, task->pid, sum);
	return 0;
}
