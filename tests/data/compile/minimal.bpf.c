// SPDX-License-Identifier: Apache-2.0
/* Smallest useful tracepoint program: report write(2) calls of one process. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

int watched_pid = 0;	/* set from user space before load */

SEC("tp/syscalls/sys_enter_write")
int on_write(void *ctx)
{
	int pid = bpf_get_current_pid_tgid() >> 32;

	if (pid != watched_pid)
		return 0;
	bpf_printk("write() from pid %d", pid);
	return 0;
}
