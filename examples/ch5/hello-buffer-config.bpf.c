// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Chapter 5: hello-buffer-config with CO-RE.
 *
 * On every execve() emit an event with the caller's pid, parent pid, uid and
 * command, the path being executed, and a message: the per-uid greeting from
 * the my_config hash map (user space fills it), or "Hello World".
 *
 * Two entry points share the body:
 *   hello     SEC("ksyscall/execve")  BPF_KPROBE_SYSCALL, as in the book:
 *             needs kprobes (CONFIG_KPROBES) to attach;
 *   hello_tp  SEC("tp/syscalls/sys_enter_execve"): the syscall tracepoint,
 *             which needs only CONFIG_FTRACE_SYSCALLS.
 * Both load (and are verified) on any kernel with BTF.
 *
 * CO-RE: the parent pid comes from task_struct->real_parent->tgid through
 * BPF_CORE_READ, and the tracepoint's args[] through a CO-RE-relocated
 * context access, so the object runs on kernels whose layouts differ from
 * the vmlinux.h it was compiled against.
 *
 * The message is copied whole (bpf_probe_read_kernel, not _str): a greeting
 * may use all MESSAGE_LEN bytes without a terminating NUL ("Hi user 501!").
 *
 * Output goes to a perf buffer (`output`) or, with use_ringbuf set in
 * .rodata before load, to a ring buffer (`events`).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "hello-buffer-config.h"

const volatile bool use_ringbuf = false;

char message[MESSAGE_LEN] = "Hello World";

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} output SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, struct msg_t);
} my_config SEC(".maps");

/* Makes clang emit struct data_t into the object's BTF for user space. */
const struct data_t *unused_data_t __attribute__((unused));

static __always_inline int emit(void *ctx, const char *pathname)
{
	struct data_t data = {};
	struct task_struct *task;
	struct msg_t *p;

	data.pid = bpf_get_current_pid_tgid() >> 32;
	data.uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
	task = (struct task_struct *)bpf_get_current_task();
	data.ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(&data.command, sizeof(data.command));
	bpf_probe_read_user_str(&data.path, sizeof(data.path), pathname);

	p = bpf_map_lookup_elem(&my_config, &data.uid);
	if (p != 0)
		bpf_probe_read_kernel(&data.message, sizeof(data.message), p->message);
	else
		bpf_probe_read_kernel(&data.message, sizeof(data.message), message);

	if (use_ringbuf)
		bpf_ringbuf_output(&events, &data, sizeof(data), 0);
	else
		bpf_perf_event_output(ctx, &output, BPF_F_CURRENT_CPU, &data, sizeof(data));
	return 0;
}

SEC("ksyscall/execve")
int BPF_KPROBE_SYSCALL(hello, const char *pathname)
{
	return emit(ctx, pathname);
}

SEC("tp/syscalls/sys_enter_execve")
int hello_tp(struct trace_event_raw_sys_enter *ctx)
{
	return emit(ctx, (const char *)ctx->args[0]);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
