// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Chapter 3: "Hello World" for XDP.
 *
 * Runs for every packet received on the interface it is attached to: prints a
 * line with bpf_printk (readable from tracefs trace_pipe), bumps a global
 * counter (it lives in the object's .bss map, which user space reads as
 * obj.bss.counter) and lets the packet through.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int counter = 0;

SEC("xdp")
int hello(struct xdp_md *ctx)
{
	bpf_printk("Hello World %d", counter);
	counter++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
