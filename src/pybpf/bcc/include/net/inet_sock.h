/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pybpf.bcc: <net/inet_sock.h> without kernel headers.  The kernel's types come from
 * vmlinux.h (generated from the running kernel's BTF) and the macros BCC
 * programs use from bcc_consts.h; both arrive through bcc_compat.h.
 */
#ifndef __PYBPF_BCC_NET_INET_SOCK_H
#define __PYBPF_BCC_NET_INET_SOCK_H
#include <bcc_compat.h>
#include <net/sock.h>
#if __has_include(<bcc_inet_sock_fields.h>)
#include <bcc_inet_sock_fields.h>	/* generated from the kernel's BTF */
#endif
#endif
