// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Chapter 8: drop pings with a traffic-control (TC) classifier.
 *
 * Runs on the skb (after the kernel built it), on ingress or egress:
 * ICMP echo requests are counted, reported and dropped (TC_ACT_SHOT),
 * everything else continues (TC_ACT_OK). Attach it with clsact/cls_bpf
 * ("tc", every kernel since 4.5) or as a tcx link (Linux 6.6+); the return
 * codes are the same for both.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "icmp-echo.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

__u64 packets = 0;
__u64 pings_dropped = 0;

SEC("tc")
int tc_drop_ping(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	__sync_fetch_and_add(&packets, 1);
	if (is_icmp_echo(data, data_end)) {
		__sync_fetch_and_add(&pings_dropped, 1);
		bpf_printk("Got ping packet: dropped (%llu so far)", pings_dropped);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
