// SPDX-License-Identifier: Apache-2.0
/* tc ingress classifier: direct packet access and byte-order helpers. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TC_ACT_OK 0
#define ETH_P_IP 0x0800

SEC("tc")
int tc_ingress(struct __sk_buff *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;

	if (ctx->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_OK;
	ip = (struct iphdr *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	bpf_printk("IPv4 packet: %d bytes, ttl %d", bpf_ntohs(ip->tot_len), ip->ttl);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
