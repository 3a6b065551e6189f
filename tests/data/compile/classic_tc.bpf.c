// SPDX-License-Identifier: Apache-2.0
/* A pre-CO-RE style classifier: UAPI headers (<linux/...>) and the compiler's
 * <stdint.h>/<stdbool.h>/<stddef.h>, no vmlinux.h. Drops UDP to port 9. */
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("tc")
int drop_discard(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = (void *)(ip + 1);
	uint16_t port;
	bool discard;

	if ((void *)(udp + 1) > end)
		return TC_ACT_OK;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP || ip->ihl != 5)
		return TC_ACT_OK;
	port = bpf_ntohs(udp->dest);
	discard = port == 9 && offsetof(struct iphdr, daddr) == 16;
	return discard ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
