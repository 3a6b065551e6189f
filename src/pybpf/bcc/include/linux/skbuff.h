/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pybpf.bcc: <linux/skbuff.h> without kernel headers.  The kernel's types come from
 * vmlinux.h (generated from the running kernel's BTF) and the macros BCC
 * programs use from bcc_consts.h; both arrive through bcc_compat.h.
 */
#ifndef __PYBPF_BCC_LINUX_SKBUFF_H
#define __PYBPF_BCC_LINUX_SKBUFF_H
#include <bcc_compat.h>

/* include/linux/skbuff.h's receive-queue accessors (inline functions: not in BTF) */
static __always_inline bool skb_rx_queue_recorded(const struct sk_buff *skb)
{
	return skb->queue_mapping != 0;
}

static __always_inline u16 skb_get_rx_queue(const struct sk_buff *skb)
{
	return skb->queue_mapping - 1;
}
#endif
