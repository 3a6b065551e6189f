/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pybpf's BCC USDT helpers: bpf_usdt_readarg() and bpf_usdt_readarg_p() on
 * top of <bpf/usdt.bpf.h>.
 *
 * BCC generates one reader per probe argument and rewrites each call into it;
 * here the arguments are described at attach time instead: pybpf.bcc.USDT
 * attaches every probe site with pybpf's attach_usdt, which writes the site's
 * decoded argument specs into this object's __bpf_usdt_specs map and makes
 * the spec id the uprobe's BPF cookie, so one function may serve any number
 * of probes and sites.
 *
 * pybpf.bcc.rewriter includes this header when a program uses
 * bpf_usdt_readarg, bpf_usdt_readarg_p or BPF_USDT, and BPF() does when given
 * usdt_contexts.
 */
#ifndef __PYBPF_BCC_USDT_H
#define __PYBPF_BCC_USDT_H

#include <bpf/usdt.bpf.h>

/* the types USDT.get_probe_arg_ctype() names (same types as vmlinux.h's, if it has them) */
typedef __s8 int8_t;
typedef __s16 int16_t;
typedef __s32 int32_t;
typedef __s64 int64_t;
typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;

/*
 * Argument n (1-based) of the probe that fired, converted to its own size and
 * signedness and then stored in the size destination bytes (1, 2, 4 or 8:
 * truncated or extended as a C assignment would).  0 on success; a negative
 * errno (no such argument, unreadable memory, other destination size) and the
 * destination untouched otherwise.  BCC wants the destination to have the
 * argument's exact size (USDT.get_probe_arg_ctype()); any integer size works here.
 */
static __always_inline int ___bcc_usdt_readarg(int n, struct pt_regs *ctx, void *dst, unsigned long size)
{
	long v;
	int err = bpf_usdt_arg(ctx, n - 1, &v);

	if (err)
		return err;
	switch (size) {
	case 1:
		*(__u8 *)dst = v;
		return 0;
	case 2:
		*(__u16 *)dst = v;
		return 0;
	case 4:
		*(__u32 *)dst = v;
		return 0;
	case 8:
		*(__u64 *)dst = v;
		return 0;
	}
	return -___PYBPF_EINVAL;
}

/*
 * Argument n (1-based) is a user-space pointer: copy len bytes from it into buf
 * (bpf_probe_read_user).  0 on success, a negative errno otherwise.
 */
static __always_inline int ___bcc_usdt_readarg_p(int n, struct pt_regs *ctx, void *buf, __u64 len)
{
	long addr;
	int err = bpf_usdt_arg(ctx, n - 1, &addr);

	if (err)
		return err;
	return bpf_probe_read_user(buf, len, (const void *)addr);
}

#define bpf_usdt_readarg(n, ctx, arg) ___bcc_usdt_readarg((n), (ctx), (arg), sizeof(*(arg)))
#define bpf_usdt_readarg_p(n, ctx, buf, len) ___bcc_usdt_readarg_p((n), (ctx), (buf), (len))

#endif /* __PYBPF_BCC_USDT_H */
