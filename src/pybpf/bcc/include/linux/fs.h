/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pybpf.bcc: <linux/fs.h> without kernel headers.  The kernel's types come from
 * vmlinux.h (generated from the running kernel's BTF) and the macros BCC
 * programs use from bcc_consts.h; both arrive through bcc_compat.h.
 */
#ifndef __PYBPF_BCC_LINUX_FS_H
#define __PYBPF_BCC_LINUX_FS_H
#include <bcc_compat.h>
/* include/linux/kernel.h's I/O directions */
#ifndef READ
#define READ	0
#define WRITE	1
#endif
#endif
