/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pybpf.bcc: <linux/tcp.h> without kernel headers.  The kernel's types come from
 * vmlinux.h (generated from the running kernel's BTF) and the macros BCC
 * programs use from bcc_consts.h; both arrive through bcc_compat.h.
 */
#ifndef __PYBPF_BCC_LINUX_TCP_H
#define __PYBPF_BCC_LINUX_TCP_H
#include <bcc_compat.h>
#include <net/sock.h>
#include <net/inet_sock.h>
#endif
