/* CO-RE: field reads, bitfields, existence checks and enum values against the
 * running kernel's BTF, with locally declared (wrong-layout) structs. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "mini_vmlinux.h"

struct event {
	int pid;
	int ppid;
	__u32 len;
	__u32 pkt_type;
	__u64 flags;
	char comm[16];
};

struct event last_event;
long enum_val;
int field_ok;

SEC("raw_tp/sys_enter")
int task_info(void *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	last_event.pid = BPF_CORE_READ(t, tgid);
	last_event.ppid = BPF_CORE_READ(t, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&last_event.comm, t, comm);
	last_event.flags = BPF_CORE_READ(t, flags);
	field_ok = bpf_core_field_exists(t->real_parent) + bpf_core_type_exists(struct task_struct);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(skb_info, struct sk_buff *skb, void *location)
{
	last_event.len = skb->len;
	last_event.pkt_type = BPF_CORE_READ_BITFIELD(skb, pkt_type);
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		enum_val = bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED);
	if (!bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_PYBPF_DOES_NOT_EXIST))
		enum_val += 100;
	last_event.flags = bpf_core_field_size(skb->protocol);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
