/* CO-RE field relocations against the running kernel's BTF (see test_core_clang.py). */
#include "core.h"

struct sched_entity {
	__u64 vruntime;
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
	char comm[16];
	struct task_struct *real_parent;
	struct sched_entity se;
	unsigned int in_execve: 1;
	unsigned int in_iowait: 1;
	unsigned int sched_reset_on_fork: 1;
} __attribute__((preserve_access_index));

/* a flavor: same kernel type, different local view */
struct task_struct___flav {
	int pid;
	int no_such_field_in_any_kernel;
	unsigned long long flags;   /* kernel: unsigned int -> load size adjusted */
	long long tgid;             /* kernel: int (signed) -> can't adjust, poisoned */
	char comm[32];              /* kernel: char[16] -> index 20 doesn't exist there */
} __attribute__((preserve_access_index));

struct sk_buff {
	union {
		struct {
			struct sk_buff *next;
			struct sk_buff *prev;
		};
	};
	unsigned int len;
	__u8 pkt_type: 3;
} __attribute__((preserve_access_index));

__u64 out[64];

SEC("kprobe/probe_read")
int probe_read(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	int pid = 0, tgid = 0;
	char c = 0;
	__u64 vr = 0;

	bpf_probe_read_kernel(&pid, sizeof(pid), &t->pid);
	bpf_probe_read_kernel(&tgid, sizeof(tgid), &t->tgid);
	bpf_probe_read_kernel(&c, 1, &t->comm[3]);
	bpf_probe_read_kernel(&vr, sizeof(vr), &t->se.vruntime);
	out[0] = pid + tgid + c + vr;
	return 0;
}

SEC("kprobe/field_info")
int field_info(void *ctx)
{
	struct task_struct *t = (void *)0;
	struct sk_buff *skb = (void *)0;

	out[0] = bpf_core_field_offset(t->pid);
	out[1] = bpf_core_field_size(t->pid);
	out[2] = bpf_core_field_exists(t->pid);
	out[3] = bpf_core_field_signed(t->pid);
	out[4] = bpf_core_field_signed(t->flags);
	out[5] = bpf_core_field_offset(t->comm);
	out[6] = bpf_core_field_size(t->comm);
	out[7] = bpf_core_field_offset(t->comm[5]);
	out[8] = bpf_core_field_size(t->comm[5]);
	out[9] = bpf_core_field_offset(t->se.vruntime);
	out[10] = bpf_core_field_offset(skb->prev);
	out[11] = bpf_core_field_offset(skb->len);
	out[12] = bpf_core_field_size(t->real_parent);
	out[13] = bpf_core_field_lshift(t->pid);
	out[14] = bpf_core_field_rshift(t->pid);
	return 0;
}

SEC("kprobe/bitfields")
int bitfields(void *ctx)
{
	struct task_struct *t = (void *)0;
	struct sk_buff *skb = (void *)0;

	out[0] = bpf_core_field_offset(t->in_iowait);
	out[1] = bpf_core_field_size(t->in_iowait);
	out[2] = bpf_core_field_lshift(t->in_iowait);
	out[3] = bpf_core_field_rshift(t->in_iowait);
	out[4] = bpf_core_field_signed(t->in_iowait);
	out[5] = bpf_core_field_offset(t->sched_reset_on_fork);
	out[6] = bpf_core_field_lshift(t->sched_reset_on_fork);
	out[7] = bpf_core_field_offset(skb->pkt_type);
	out[8] = bpf_core_field_size(skb->pkt_type);
	out[9] = bpf_core_field_lshift(skb->pkt_type);
	out[10] = bpf_core_field_rshift(skb->pkt_type);
	out[11] = bpf_core_field_exists(t->in_execve);
	return 0;
}

SEC("kprobe/flavors")
int flavors(void *ctx)
{
	struct task_struct___flav *f = (void *)bpf_get_current_task();
	int pid = 0;
	char c = 0;

	bpf_probe_read_kernel(&pid, sizeof(pid), &f->pid);
	out[0] = pid;
	out[1] = bpf_core_field_exists(f->no_such_field_in_any_kernel);
	out[2] = bpf_core_field_exists(f->comm[20]);
	out[3] = bpf_core_field_exists(f->comm[2]);
	if (bpf_core_field_exists(f->no_such_field_in_any_kernel)) {
		int x = 0;

		bpf_probe_read_kernel(&x, sizeof(x), &f->no_such_field_in_any_kernel);
		out[4] = x;
		out[5] = bpf_core_field_size(f->no_such_field_in_any_kernel);
	}
	if (bpf_core_field_exists(f->comm[20])) {
		bpf_probe_read_kernel(&c, 1, &f->comm[20]);
		out[6] = c;
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int direct(__u64 *ctx)
{
	struct task_struct *prev = (void *)ctx[1];
	struct task_struct___flav *f = (void *)ctx[1];

	out[0] = prev->pid;
	out[1] = prev->flags;
	out[2] = prev->comm[1];
	out[3] = prev->se.vruntime;
	out[4] = f->flags;            /* u64 load becomes a u32 load */
	if (bpf_core_field_exists(f->no_such_field_in_any_kernel))
		out[5] = f->tgid;     /* signed size change: poisoned (dead code here) */
	return 0;
}
