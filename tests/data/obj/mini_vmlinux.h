/* Minimal kernel type declarations for CO-RE tests (no vmlinux.h needed).
 *
 * Layouts here are deliberately NOT the kernel's: CO-RE relocations must fix
 * every offset against the running kernel's BTF.
 */
#pragma once
#include <linux/types.h>

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
	struct task_struct *real_parent;
	char comm[16];
};

struct net_device {
	char name[16];
	int ifindex;
};

struct sk_buff {
	struct net_device *dev;
	unsigned int len;
	unsigned int data_len;
	__u8 cloned: 1, nohdr: 1, pkt_type: 3, ignore_df: 1;
	__u16 protocol;
	__u32 mark;
};

struct seq_file {
	char *buf;
};

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
};

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};

#pragma clang attribute pop

enum skb_drop_reason {
	SKB_NOT_DROPPED_YET = 0,
	SKB_DROP_REASON_NOT_SPECIFIED = 2,
	SKB_DROP_REASON_PYBPF_DOES_NOT_EXIST = 9999,
};
