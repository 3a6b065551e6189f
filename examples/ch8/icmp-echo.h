/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Is this Ethernet frame an IPv4 ICMP echo request ("ping")?  Every read is
 * preceded by a comparison with data_end: without it the verifier refuses
 * the program ("invalid access to packet", see chapter 6).
 */
#ifndef ICMP_ECHO_H
#define ICMP_ECHO_H

#include <bpf/bpf_endian.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IPPROTO_ICMP_ 1
#define ICMP_ECHO_REQUEST 8

static __always_inline int is_icmp_echo(void *data, void *data_end)
{
	unsigned char *eth = data, *ip, *icmp;
	unsigned int ihl;

	if (data + ETH_HLEN + 20 > data_end)
		return 0;
	if (*(__u16 *)(eth + 12) != bpf_htons(ETH_P_IP))
		return 0;
	ip = eth + ETH_HLEN;
	if (ip[9] != IPPROTO_ICMP_)
		return 0;
	ihl = (ip[0] & 0x0f) * 4;
	if (ihl < 20)
		return 0;
	icmp = ip + ihl;
	if ((void *)(icmp + 1) > data_end)
		return 0;
	return icmp[0] == ICMP_ECHO_REQUEST;
}

#endif
