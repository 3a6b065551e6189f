/* "Learning eBPF", chapter 5: hello-buffer-config.bpf.c -- a CO-RE execve()
 * greeter: the syscall argument read through BPF_KPROBE_SYSCALL (CO-RE on
 * struct pt_regs), a per-user config hash map whose value struct holds a
 * message, and a perf buffer for the output. */
#include "book.h"
#include "hello-buffer-config.h"

char message[12] = "Hello World";

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} output SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, struct msg_t);
} my_config SEC(".maps");

SEC("ksyscall/execve")
int BPF_KPROBE_SYSCALL(hello, const char *pathname)
{
	struct data_t data = {};
	struct msg_t *p;

	data.pid = bpf_get_current_pid_tgid() >> 32;
	data.uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;

	bpf_get_current_comm(&data.command, sizeof(data.command));
	bpf_probe_read_user_str(&data.path, sizeof(data.path), pathname);

	p = bpf_map_lookup_elem(&my_config, &data.uid);
	if (p != 0)
		bpf_probe_read_kernel_str(&data.message, sizeof(data.message), p->message);
	else
		bpf_probe_read_kernel_str(&data.message, sizeof(data.message), message);

	bpf_perf_event_output(ctx, &output, BPF_F_CURRENT_CPU, &data, sizeof(data));
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
