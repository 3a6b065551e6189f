// SPDX-License-Identifier: Apache-2.0
/* Process exec/exit tracker: tracepoints, a hash map, a ring buffer, CO-RE reads,
 * a read-only config global and an event struct from a local header. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "procs.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, pid_t);
	__type(value, u64);
} started SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 128 * 1024);
} events SEC(".maps");

const volatile unsigned long long min_lifetime_ns = 0;

SEC("tp/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	pid_t pid = bpf_get_current_pid_tgid() >> 32;
	u64 now = bpf_ktime_get_ns();
	unsigned name_off = ctx->__data_loc_filename & 0xFFFF;
	struct procs_event *e;

	bpf_map_update_elem(&started, &pid, &now, BPF_ANY);
	if (min_lifetime_ns)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->is_exit = false;
	e->pid = pid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_probe_read_str(&e->path, sizeof(e->path), (void *)ctx + name_off);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp/sched/sched_process_exit")
int on_exit(struct trace_event_raw_sched_process_template *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	pid_t pid = id >> 32, tid = (u32)id;
	struct task_struct *task;
	struct procs_event *e;
	u64 *start, life = 0;

	if (pid != tid)
		return 0;	/* a thread, not the process */
	start = bpf_map_lookup_elem(&started, &pid);
	if (start)
		life = bpf_ktime_get_ns() - *start;
	else if (min_lifetime_ns)
		return 0;
	bpf_map_delete_elem(&started, &pid);
	if (min_lifetime_ns && life < min_lifetime_ns)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	e->is_exit = true;
	e->lifetime_ns = life;
	e->pid = pid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->exit_code = (BPF_CORE_READ(task, exit_code) >> 8) & 0xff;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
