// SPDX-License-Identifier: GPL-2.0
/* CO-RE test object for bench/load.py: a small "process info" tool with two dozen
 * task_struct-centred CO-RE relocations (field offsets through pointer chains,
 * field existence/size, type existence/size, an enum value).
 *
 * No vmlinux.h: the kernel structs are declared here with only the fields used,
 * in a deliberately different layout, with preserve_access_index so that every
 * access is relocated against the running kernel's BTF.
 *
 * Built by bench/load.py:  clang-19 -target bpf -O2 -g -c core_tool.bpf.c
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

typedef struct { unsigned int val; } kuid_t;
typedef struct { unsigned int val; } kgid_t;

struct cred {
	kuid_t uid;
	kgid_t gid;
	kuid_t euid;
};

struct mm_struct {
	unsigned long start_code;
	unsigned long end_code;
	unsigned long arg_start;
	unsigned long arg_end;
};

struct nsproxy;

struct task_struct {
	char comm[16];
	int pid;
	int tgid;
	unsigned int flags;
	int prio;
	int static_prio;
	unsigned int policy;
	unsigned long long start_time;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct mm_struct *mm;
	const struct cred *cred;
	struct nsproxy *nsproxy;
	int exit_code;
	int pybpf_no_such_field;
};

#pragma clang attribute pop

enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_PGID, PIDTYPE_SID, PIDTYPE_MAX };

struct proc_info {
	__u32 pid, tgid, ppid, leader;
	__u32 uid, gid, euid, flags;
	__s32 prio, static_prio, exit_code, policy;
	__u64 start_time, code_size, args_size;
	__u32 comm_size, has_nsproxy, has_bogus, task_size;
	__u64 pidtype_max;
	char comm[16];
	char parent_comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct proc_info);
} procs SEC(".maps");

struct proc_info scratch;
const volatile __u32 target_tgid = 0;

SEC("raw_tp/sys_enter")
int core_tool(void *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct proc_info *p = &scratch;
	__u32 tgid;

	tgid = BPF_CORE_READ(t, tgid);
	if (target_tgid && tgid != target_tgid)
		return 0;
	p->tgid = tgid;
	p->pid = BPF_CORE_READ(t, pid);
	p->ppid = BPF_CORE_READ(t, real_parent, tgid);
	p->leader = BPF_CORE_READ(t, group_leader, pid);
	p->uid = BPF_CORE_READ(t, cred, uid.val);
	p->gid = BPF_CORE_READ(t, cred, gid.val);
	p->euid = BPF_CORE_READ(t, cred, euid.val);
	p->flags = BPF_CORE_READ(t, flags);
	p->prio = BPF_CORE_READ(t, prio);
	p->static_prio = BPF_CORE_READ(t, static_prio);
	p->policy = BPF_CORE_READ(t, policy);
	p->exit_code = BPF_CORE_READ(t, exit_code);
	p->start_time = BPF_CORE_READ(t, start_time);
	p->code_size = BPF_CORE_READ(t, mm, end_code) - BPF_CORE_READ(t, mm, start_code);
	p->args_size = BPF_CORE_READ(t, mm, arg_end) - BPF_CORE_READ(t, mm, arg_start);
	BPF_CORE_READ_STR_INTO(&p->comm, t, comm);
	BPF_CORE_READ_STR_INTO(&p->parent_comm, t, real_parent, comm);
	p->comm_size = bpf_core_field_size(t->comm);
	p->has_nsproxy = bpf_core_field_exists(t->nsproxy);
	p->has_bogus = bpf_core_field_exists(t->pybpf_no_such_field);
	p->task_size = bpf_core_type_size(struct task_struct);
	p->pidtype_max = bpf_core_enum_value(enum pid_type, PIDTYPE_MAX);
	bpf_map_update_elem(&procs, &tgid, p, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
