/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pybpf.bcc: <linux/kernel.h> without kernel headers.  The kernel's types come from
 * vmlinux.h (generated from the running kernel's BTF) and the macros BCC
 * programs use from bcc_consts.h; both arrive through bcc_compat.h.
 */
#ifndef __PYBPF_BCC_LINUX_KERNEL_H
#define __PYBPF_BCC_LINUX_KERNEL_H
#include <bcc_compat.h>

/* include/linux/minmax.h's min()/max() (min_t() & co. are in bcc_consts.h) */
#ifndef min
#define min(x, y) ({ typeof(x) __pybpf_x = (x); typeof(y) __pybpf_y = (y); __pybpf_x < __pybpf_y ? __pybpf_x : __pybpf_y; })
#endif
#ifndef max
#define max(x, y) ({ typeof(x) __pybpf_x = (x); typeof(y) __pybpf_y = (y); __pybpf_x > __pybpf_y ? __pybpf_x : __pybpf_y; })
#endif
/* include/linux/kernel.h's I/O directions */
#ifndef READ
#define READ	0
#define WRITE	1
#endif
#endif
