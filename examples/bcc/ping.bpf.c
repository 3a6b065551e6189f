// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Chapter 8 — XDP ping detector, in BCC's C dialect (loaded by ping.py with
 * BPF(src_file="ping.bpf.c")).
 *
 * Every packet arriving on the interface passes through ping(): Ethernet ->
 * IPv4 -> ICMP, each header bounds-checked against data_end (the verifier
 * insists); an ICMP echo request ("ping") is reported with bpf_trace_printk
 * (source and destination as %pI4, the sequence number) and counted in the
 * `pings` array. Compiled with -DDROP_PINGS it is then dropped (XDP_DROP); every
 * other packet goes on (XDP_PASS).
 *
 * The kernel's struct ethhdr/iphdr/icmphdr come from vmlinux.h (through
 * pybpf.bcc's <linux/...> headers); ETH_P_IP, IPPROTO_ICMP and ICMP_ECHO from
 * its BCC constants.
 */
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/icmp.h>

BPF_ARRAY(pings, u64, 1);

static __always_inline struct icmphdr *icmp_ping_request(void *data, void *data_end, struct iphdr **ipp)
{
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return 0;

    struct iphdr *iph = (void *)(eth + 1);
    if ((void *)(iph + 1) > data_end || iph->protocol != IPPROTO_ICMP)
        return 0;

    struct icmphdr *icmp = (void *)iph + iph->ihl * 4;
    if ((void *)(icmp + 1) > data_end || icmp->type != ICMP_ECHO)
        return 0;
    *ipp = iph;
    return icmp;
}

int ping(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct iphdr *iph = 0;
    struct icmphdr *icmp = icmp_ping_request(data, data_end, &iph);

    if (!icmp || !iph)
        return XDP_PASS;
    pings.increment(0);
    bpf_trace_printk("Got ping packet %pI4 > %pI4 seq %d", &iph->saddr, &iph->daddr,
                     bpf_ntohs(icmp->un.echo.sequence));
#ifdef DROP_PINGS
    return XDP_DROP;
#else
    return XDP_PASS;
#endif
}
