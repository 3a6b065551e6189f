// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Chapter 8: drop pings with XDP.
 *
 * Runs on every packet the interface receives, before the kernel allocates
 * an skb for it: ICMP echo requests are counted, reported with bpf_printk
 * and dropped (XDP_DROP), everything else goes on (XDP_PASS).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "icmp-echo.h"

__u64 packets = 0;
__u64 pings_dropped = 0;

SEC("xdp")
int ping(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	__sync_fetch_and_add(&packets, 1);
	if (is_icmp_echo(data, data_end)) {
		__sync_fetch_and_add(&pings_dropped, 1);
		bpf_printk("Hello ping: dropped (%llu so far)", pings_dropped);
		return XDP_DROP;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
