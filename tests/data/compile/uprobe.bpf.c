// SPDX-License-Identifier: Apache-2.0
/* uprobe/uretprobe on a user-space function: BPF_UPROBE/BPF_URETPROBE and BPF_KPROBE. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("uprobe")
int BPF_UPROBE(add_enter, int a, int b)
{
	bpf_printk("add(%d, %d)", a, b);
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(add_exit, int ret)
{
	bpf_printk("add() = %d", ret);
	return 0;
}

SEC("uprobe//proc/self/exe:sub_numbers")
int BPF_KPROBE(sub_enter, long a, long b, long c, long d, long e, long f)
{
	bpf_printk("sub(%ld, %ld, %ld ...)", a, b, c);
	bpf_printk("... %ld %ld %ld", d, e, f);
	return 0;
}
