/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pybpf.bcc: <net/tcp.h> without kernel headers.  The kernel's types come from
 * vmlinux.h (generated from the running kernel's BTF), the sock field aliases from
 * <net/sock.h> and the macros below from include/net/tcp.h.
 */
#ifndef __PYBPF_BCC_NET_TCP_H
#define __PYBPF_BCC_NET_TCP_H
#include <bcc_compat.h>
#include <linux/tcp.h>

#define TCP_SKB_CB(__skb)	((struct tcp_skb_cb *)&((__skb)->cb[0]))
#endif
