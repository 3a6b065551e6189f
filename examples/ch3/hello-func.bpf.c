// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Chapter 3: a BPF-to-BPF function call.
 *
 * get_protocol() is __noinline, so the compiler keeps it as a separate BPF
 * function: the object has a .text subprogram and hello() reaches it with a
 * "call pc+N" instruction (look for it in the runner's --dump output, or
 * `pybpf prog dump xlated`). The verifier checks the callee in the caller's
 * context: it knows ctx is an xdp_md and that the packet bounds are checked.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800

int counter = 0;

/* The IPv4 protocol number of the packet (1 ICMP, 6 TCP, 17 UDP), or 0. */
static __noinline int get_protocol(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = data;

	if (data + ETH_HLEN + 20 > data_end)
		return 0;
	if (*(unsigned short *)(p + 12) != bpf_htons(ETH_P_IP))
		return 0;
	return p[ETH_HLEN + 9];
}

SEC("xdp")
int hello(struct xdp_md *ctx)
{
	int protocol = get_protocol(ctx);

	bpf_printk("Hello World %d, IP protocol %d", counter, protocol);
	counter++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
