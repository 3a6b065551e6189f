/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pybpf's BCC compatibility header: what BCC's implicit helpers.h gives a
 * program, on top of vmlinux.h and pybpf's libbpf-compatible headers.
 *
 * pybpf.bcc.BPF puts `#include <bcc_compat.h>` in front of every program; the
 * table macros (BPF_HASH...) and table methods (m.lookup(&k)...) are rewritten
 * by pybpf.bcc.rewriter before this header is seen, so only plain C lives here.
 */
#ifndef __PYBPF_BCC_COMPAT_H
#define __PYBPF_BCC_COMPAT_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#if __has_include(<bcc_kconfig.h>)	/* generated per kernel by pybpf.bcc.kheaders */
#include <bcc_kconfig.h>	/* CONFIG_* from the running kernel's configuration */
#include <bcc_kernel.h>		/* constants that depend on the kernel's types */
#endif
#include <bcc_arch.h>
#include <bcc_consts.h>

/* ---- kernel source annotations that carry no meaning here ---------------- */
#ifndef __user
#define __user
#endif
#ifndef __kernel
#define __kernel
#endif
#ifndef __rcu
#define __rcu
#endif
#ifndef __percpu
#define __percpu
#endif
#ifndef __force
#define __force
#endif
#ifndef __iomem
#define __iomem
#endif
#ifndef __bitwise
#define __bitwise
#endif
#ifndef __must_check
#define __must_check
#endif
#ifndef __inline
#define __inline inline __attribute__((always_inline))
#endif

/* ---- stack traces ----------------------------------------------------- */
#define BPF_MAX_STACK_DEPTH 127
struct bpf_stacktrace {
	__u64 ip[BPF_MAX_STACK_DEPTH];
};
struct bpf_stacktrace_buildid {
	struct bpf_stack_build_id trace[BPF_MAX_STACK_DEPTH];
};

#define CUR_CPU_IDENTIFIER BPF_F_CURRENT_CPU

/* ---- kernel memory reads (pybpf.bcc._deref rewrites p->a->b into these) ---- */
/* As BCC's rewriter: bpf_probe_read reads kernel or user addresses (uprobe arguments),
 * except where the two address spaces overlap and only the explicit helpers exist. */
#if defined(__TARGET_ARCH_s390) || defined(__TARGET_ARCH_riscv)
#define __bcc_probe_read bpf_probe_read_kernel
#else
#define __bcc_probe_read bpf_probe_read
#endif

/* ---- bpf_trace_printk("fmt", args...) as in BCC ------------------------- */
/*
 * BCC's bpf_trace_printk takes a format literal and its arguments, like
 * bpf_printk.  The libbpf printk macros call the helper by its name, so they
 * are redefined to call it through parentheses (which a function-like macro
 * does not expand) before bpf_trace_printk itself becomes a macro.
 */
#undef __bpf_printk
#define __bpf_printk(fmt, ...)							\
({										\
	BPF_PRINTK_FMT_MOD char ____fmt[] = fmt;				\
	(bpf_trace_printk)(____fmt, sizeof(____fmt), ##__VA_ARGS__);		\
})
#define bpf_trace_printk(fmt, ...) bpf_printk(fmt, ##__VA_ARGS__)

/* ---- BCC helpers --------------------------------------------------------- */
#define lock_xadd(ptr, val) ((void)__sync_fetch_and_add(ptr, val))

/* floor(log2(v)) for v > 0, 0 for v == 0 */
static __always_inline unsigned int bpf_log2(unsigned int v)
{
	unsigned int r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* the log2 histogram slot of v: 0 for 0, else floor(log2(v)) + 1 */
static __always_inline unsigned int bpf_log2l(unsigned long v)
{
	unsigned int hi = v >> 32;

	if (hi)
		return bpf_log2(hi) + 32 + 1;
	return bpf_log2(v) + 1;
}

#ifndef bpf_ntohll
#define bpf_ntohll(x) bpf_be64_to_cpu(x)
#endif
#ifndef bpf_htonll
#define bpf_htonll(x) bpf_cpu_to_be64(x)
#endif

/* Socket-filter packet loads (the LLVM BPF intrinsics BCC declares). */
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

/* ---- probe macros ------------------------------------------------------- */
#define TRACEPOINT_PROBE(category, event) \
	int tracepoint__##category##__##event(struct tracepoint__##category##__##event *args)

#define RAW_TRACEPOINT_PROBE(event) \
	int raw_tracepoint__##event(struct bpf_raw_tracepoint_args *ctx)

#define KFUNC_PROBE(event, args...) int BPF_PROG(kfunc__vmlinux__##event, ##args)
#define KRETFUNC_PROBE(event, args...) int BPF_PROG(kretfunc__vmlinux__##event, ##args)
#define MODULE_KFUNC_PROBE(module, event, args...) int BPF_PROG(kfunc__##module##__##event, ##args)
#define MODULE_KRETFUNC_PROBE(module, event, args...) int BPF_PROG(kretfunc__##module##__##event, ##args)
#define KMOD_RET(event, args...) int BPF_PROG(kmod_ret__##event, ##args)
#define LSM_PROBE(event, args...) int BPF_PROG(lsm__##event, ##args)

#define BPF_LICENSE(name) char _license[] SEC("license") = #name

/* ---- tracepoint __data_loc fields (args->data_loc_<field>) ---------------- */
#define TP_DATA_LOC_READ_CONST(dst, field, length)					\
	do {										\
		unsigned short __off = args->data_loc_##field & 0xFFFF;		\
		bpf_probe_read_kernel((void *)(dst), (length), (char *)args + __off);	\
	} while (0)

#define TP_DATA_LOC_READ(dst, field)							\
	do {										\
		unsigned short __off = args->data_loc_##field & 0xFFFF;		\
		unsigned short __len = args->data_loc_##field >> 16;			\
		bpf_probe_read_kernel((void *)(dst), __len, (char *)args + __off);	\
	} while (0)

#define TP_DATA_LOC_READ_STR(dst, field, length)					\
	do {										\
		unsigned short __off = args->data_loc_##field & 0xFFFF;		\
		bpf_probe_read_kernel_str((void *)(dst), (length), (char *)args + __off); \
	} while (0)

#endif /* __PYBPF_BCC_COMPAT_H */
