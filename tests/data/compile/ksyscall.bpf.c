// SPDX-License-Identifier: Apache-2.0
/* Syscall entry probes with typed arguments (BPF_KSYSCALL / BPF_KPROBE_SYSCALL). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define TASK_COMM_LEN 16

SEC("ksyscall/tgkill")
int BPF_KSYSCALL(tgkill_entry, pid_t tgid, pid_t tid, int sig)
{
	char comm[TASK_COMM_LEN];

	if (sig == 0)
		return 0;	/* existence checks are not interesting */
	bpf_get_current_comm(&comm, sizeof(comm));
	bpf_printk("tgkill(%d, %d, %d) by %s", tgid, tid, sig, comm);
	return 0;
}

SEC("ksyscall/kill")
int BPF_KPROBE_SYSCALL(kill_entry, pid_t pid, int sig)
{
	if (sig)
		bpf_printk("kill(%d, %d)", pid, sig);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
