/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pybpf's <bpf/usdt.bpf.h>: USDT (user statically defined tracepoint)
 * programs.  Source compatible with libbpf's header of the same name, with
 * the same spec-table layout, so either user-space side can drive it.
 *
 *   SEC("usdt/./app:provider:probe")
 *   int BPF_USDT(handler, int x, const char *s) { ... }
 *
 * How arguments are found: for each attached USDT site user space decodes the
 * note's argument string (e.g. "-4@-12(%rbp) 8@%rax") into a struct
 * __bpf_usdt_spec, stores it at some index (spec id) of the ARRAY map
 * __bpf_usdt_specs, and passes the spec id as the uprobe's BPF cookie.
 * Kernels without BPF cookies (LINUX_HAS_BPF_COOKIE false) are served by the
 * HASH map __bpf_usdt_ip_to_spec_id instead: probe address -> spec id.
 * Both maps are __weak, so several objects linked together share them.
 */
#ifndef __USDT_BPF_H__
#define __USDT_BPF_H__

#include "bpf_helpers.h"
#include "bpf_tracing.h"

#ifndef BPF_USDT_MAX_SPEC_CNT
#define BPF_USDT_MAX_SPEC_CNT 256	/* entries of __bpf_usdt_specs */
#endif
#ifndef BPF_USDT_MAX_IP_CNT
#define BPF_USDT_MAX_IP_CNT (4 * BPF_USDT_MAX_SPEC_CNT)	/* entries of __bpf_usdt_ip_to_spec_id */
#endif
#define BPF_USDT_MAX_ARG_CNT 12

/* where an argument lives */
enum __bpf_usdt_arg_type {
	BPF_USDT_ARG_CONST,	/* value = val_off */
	BPF_USDT_ARG_REG,	/* value = register at pt_regs + reg_off */
	BPF_USDT_ARG_REG_DEREF,	/* value = user memory at reg + val_off */
	BPF_USDT_ARG_SIB,	/* value = user memory at reg + (idx_reg << scale_bitshift) + val_off */
};

/*
 * 16 bytes.  Bytes 8..11 hold a u32 whose low byte is the arg type (so the
 * layout is that of the original 16-byte spec, whose arg type was a 4-byte
 * enum): bits 0-7 arg type, 8-19 idx_reg_off, 20-23 scale_bitshift.
 */
struct __bpf_usdt_arg_spec {
	__u64 val_off;				/* constant, or memory offset */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__u32 arg_type : 8;			/* enum __bpf_usdt_arg_type */
	__u32 idx_reg_off : 12;			/* SIB: index register's offset in pt_regs */
	__u32 scale_bitshift : 4;		/* SIB: log2 of the scale (0..3) */
	__u32 __reserved : 8;
#else
	__u32 __reserved : 8;
	__u32 scale_bitshift : 4;
	__u32 idx_reg_off : 12;
	__u32 arg_type : 8;
#endif
	short reg_off;				/* base register's offset in struct pt_regs */
	_Bool arg_signed;			/* sign-extend the value */
	char arg_bitshift;			/* 64 - 8 * size: shifts that narrow to the arg's size */
};

struct __bpf_usdt_spec {
	struct __bpf_usdt_arg_spec args[BPF_USDT_MAX_ARG_CNT];
	__u64 usdt_cookie;			/* the user's cookie for this attachment */
	short arg_cnt;
};

struct {
	__uint(type, 2 /* BPF_MAP_TYPE_ARRAY */);
	__uint(max_entries, BPF_USDT_MAX_SPEC_CNT);
	__type(key, int);
	__type(value, struct __bpf_usdt_spec);
} __bpf_usdt_specs SEC(".maps") __weak;

struct {
	__uint(type, 1 /* BPF_MAP_TYPE_HASH */);
	__uint(max_entries, BPF_USDT_MAX_IP_CNT);
	__type(key, long);
	__type(value, __u32);
} __bpf_usdt_ip_to_spec_id SEC(".maps") __weak;

extern const _Bool LINUX_HAS_BPF_COOKIE __kconfig;

#define ___PYBPF_ENOENT 2
#define ___PYBPF_ESRCH 3
#define ___PYBPF_EINVAL 22

/* spec id of the USDT site that fired, or -ESRCH */
static __always_inline int __bpf_usdt_spec_id(struct pt_regs *ctx)
{
	if (LINUX_HAS_BPF_COOKIE)
		return bpf_get_attach_cookie(ctx);
	{
		long ip = PT_REGS_IP(ctx);
		int *id = bpf_map_lookup_elem(&__bpf_usdt_ip_to_spec_id, &ip);

		return id ? *id : -___PYBPF_ESRCH;
	}
}

static __always_inline struct __bpf_usdt_spec *___pybpf_usdt_spec(struct pt_regs *ctx)
{
	int id = __bpf_usdt_spec_id(ctx);

	if (id < 0)
		return NULL;
	return bpf_map_lookup_elem(&__bpf_usdt_specs, &id);
}

/* number of arguments of the USDT site that fired, or a negative error */
__weak __hidden int bpf_usdt_arg_cnt(struct pt_regs *ctx)
{
	struct __bpf_usdt_spec *spec = ___pybpf_usdt_spec(ctx);

	return spec ? spec->arg_cnt : -___PYBPF_ESRCH;
}

/* size in bytes of argument arg_num (0-based), or a negative error */
static __always_inline int bpf_usdt_arg_size(struct pt_regs *ctx, __u64 arg_num)
{
	struct __bpf_usdt_spec *spec = ___pybpf_usdt_spec(ctx);

	if (!spec)
		return -___PYBPF_ESRCH;
	if (arg_num >= BPF_USDT_MAX_ARG_CNT)
		return -___PYBPF_ENOENT;
	barrier_var(arg_num);
	if (arg_num >= spec->arg_cnt)
		return -___PYBPF_ENOENT;
	return (unsigned int)(64 - spec->args[arg_num].arg_bitshift) / 8;
}

/*
 * Fetch argument arg_num (0-based) into *res, widened to 64 bits.
 * Returns 0, or a negative error (then *res is 0).
 */
__weak __hidden int bpf_usdt_arg(struct pt_regs *ctx, __u64 arg_num, long *res)
{
	struct __bpf_usdt_spec *spec;
	struct __bpf_usdt_arg_spec *a;
	unsigned long val, idx;
	int err;

	*res = 0;
	spec = ___pybpf_usdt_spec(ctx);
	if (!spec)
		return -___PYBPF_ESRCH;
	if (arg_num >= BPF_USDT_MAX_ARG_CNT)
		return -___PYBPF_ENOENT;
	barrier_var(arg_num);
	if (arg_num >= spec->arg_cnt)
		return -___PYBPF_ENOENT;
	a = &spec->args[arg_num];

	switch (a->arg_type) {
	case BPF_USDT_ARG_CONST:
		val = a->val_off;
		break;
	case BPF_USDT_ARG_REG:
		err = bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + a->reg_off);
		if (err)
			return err;
		break;
	case BPF_USDT_ARG_REG_DEREF:
		err = bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + a->reg_off);
		if (err)
			return err;
		err = bpf_probe_read_user(&val, sizeof(val), (void *)val + a->val_off);
		if (err)
			return err;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		val >>= a->arg_bitshift;
#endif
		break;
	case BPF_USDT_ARG_SIB:
		err = bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + a->reg_off);
		if (err)
			return err;
		err = bpf_probe_read_kernel(&idx, sizeof(idx), (void *)ctx + a->idx_reg_off);
		if (err)
			return err;
		err = bpf_probe_read_user(&val, sizeof(val),
					  (void *)(val + (idx << a->scale_bitshift) + a->val_off));
		if (err)
			return err;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		val >>= a->arg_bitshift;
#endif
		break;
	default:
		return -___PYBPF_EINVAL;
	}
	/* keep the low (64 - arg_bitshift) bits, sign- or zero-extended */
	val <<= a->arg_bitshift;
	if (a->arg_signed)
		val = ((long)val) >> a->arg_bitshift;
	else
		val = val >> a->arg_bitshift;
	*res = val;
	return 0;
}

/* the cookie given when attaching this USDT (the BPF cookie itself carries the spec id) */
__weak __hidden long bpf_usdt_cookie(struct pt_regs *ctx)
{
	struct __bpf_usdt_spec *spec = ___pybpf_usdt_spec(ctx);

	return spec ? spec->usdt_cookie : 0;
}

#define ___pybpf_usdt_arg(i) ({ long ___x; bpf_usdt_arg(ctx, (i) - 1, &___x); ___x; })
#define ___bpf_usdt_args(args...) ctx ___pybpf_seq(___bpf_narg(args), ___pybpf_usdt_arg)

/* int BPF_USDT(name, int a, char *b) { ... }: typed USDT arguments; ctx stays available */
#define BPF_USDT(name, args...) \
	___pybpf_wrapper(name, struct pt_regs *ctx, ___bpf_usdt_args(args), ##args)

#endif /* __USDT_BPF_H__ */
