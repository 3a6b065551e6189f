/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pybpf.bcc: <linux/ipv6.h> without kernel headers.  The kernel's types come from
 * vmlinux.h (generated from the running kernel's BTF) and the macros BCC
 * programs use from bcc_consts.h; both arrive through bcc_compat.h.
 */
#ifndef __PYBPF_BCC_LINUX_IPV6_H
#define __PYBPF_BCC_LINUX_IPV6_H
#include <bcc_compat.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#endif
