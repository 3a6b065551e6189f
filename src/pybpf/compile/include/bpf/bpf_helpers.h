/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pybpf's <bpf/bpf_helpers.h>: section/map-definition macros, attributes,
 * bpf_printk() and friends, open-coded iterator loops, and (through
 * bpf_helper_defs.h) a prototype for every BPF helper.
 *
 * Written for pybpf to be source compatible with libbpf's header of the same
 * name: programs written against libbpf compile unchanged.  Unlike libbpf's,
 * it may be included first: when neither vmlinux.h nor <linux/types.h> was
 * seen, it declares the __u8..__u64 family itself (identically to the
 * kernel, so a later vmlinux.h or <linux/types.h> is still fine).
 */
#ifndef __BPF_HELPERS__
#define __BPF_HELPERS__

#if !defined(__VMLINUX_H__) && !defined(_LINUX_TYPES_H) && !defined(__ASM_GENERIC_INT_LL64_H) \
	&& !defined(__PYBPF_UAPI_TYPES)
#define __PYBPF_UAPI_TYPES
typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __le16;
typedef __u16 __be16;
typedef __u32 __le32;
typedef __u32 __be32;
typedef __u64 __le64;
typedef __u64 __be64;
typedef __u16 __sum16;
typedef __u32 __wsum;
#endif

#include "bpf_helper_defs.h"

/* ---- BTF-defined map members ------------------------------------------ */
/*
 * struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, u32); ... } m SEC(".maps");
 * Integers travel in the array dimension of a pointer type, types in the
 * pointee; both end up in BTF, which is what the loader reads.
 */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
/* a 64-bit value (e.g. map_extra) travels as an enumerator of an anonymous enum */
#define __ulong(name, val) enum { ___bpf_concat(__pybpf_ulong_, __COUNTER__) = (val) } name

/* ---- sections and attributes ------------------------------------------ */
/*
 * SEC("kprobe/do_unlinkat"), SEC(".maps"), SEC("license"), ...  The pragmas
 * keep clang quiet when SEC() is used on an extern (e.g. an extern map).
 */
#if defined(__clang__)
#define SEC(name)								\
	_Pragma("GCC diagnostic push")						\
	_Pragma("GCC diagnostic ignored \"-Wignored-attributes\"")		\
	__attribute__((section(name), used))					\
	_Pragma("GCC diagnostic pop")
#else
#define SEC(name) __attribute__((section(name), used))
#endif

/* <linux/stddef.h> has its own __always_inline: ours must win. */
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
#ifndef __weak
#define __weak __attribute__((weak))
#endif
/* A global function the verifier checks in its caller's context (as if static). */
#define __hidden __attribute__((visibility("hidden")))

#ifndef likely
#define likely(x) (__builtin_expect(!!(x), 1))
#endif
#ifndef unlikely
#define unlikely(x) (__builtin_expect(!!(x), 0))
#endif

#ifndef NULL
#define NULL ((void *)0)
#endif
#ifndef KERNEL_VERSION
#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))
#endif

/*
 * offsetof() spelled as pointer arithmetic: __builtin_offsetof() would not
 * carry a CO-RE relocation for preserve_access_index types.
 */
#undef offsetof
#define offsetof(type, member) ((unsigned long)&((type *)0)->member)
#undef container_of
#define container_of(ptr, type, member)						\
	({									\
		void *__pybpf_mptr = (void *)(ptr);				\
		((type *)(__pybpf_mptr - offsetof(type, member)));		\
	})

/* Compiler barrier; barrier_var(v) makes the compiler forget what it knows about v. */
#ifndef barrier
#define barrier() asm volatile("" ::: "memory")
#endif
#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

/* Fails the build if the call survives optimization (BPF has no trap). */
#ifndef __bpf_unreachable
#define __bpf_unreachable() __builtin_trap()
#endif

/*
 * bpf_tail_call() with a constant slot, emitted so that ctx/map/slot are set
 * right before the call instruction (lets the JIT patch a direct jump).
 */
#if defined(__bpf__) && defined(__clang__)
static __always_inline void bpf_tail_call_static(void *ctx, const void *map, const __u32 slot)
{
	if (!__builtin_constant_p(slot))
		__bpf_unreachable();
	asm volatile("r1 = %[ctx]\n\t"
		     "r2 = %[map]\n\t"
		     "r3 = %[slot]\n\t"
		     "call 12"
		     :: [ctx]"r"(ctx), [map]"r"(map), [slot]"i"(slot)
		     : "r0", "r1", "r2", "r3", "r4", "r5");
}
#endif

/* __uint(pinning, LIBBPF_PIN_BY_NAME) pins a map under /sys/fs/bpf/<name>. */
enum libbpf_pin_type {
	LIBBPF_PIN_NONE,
	LIBBPF_PIN_BY_NAME,
};

/* Value of a tristate CONFIG_ extern (extern enum libbpf_tristate CONFIG_X __kconfig). */
enum libbpf_tristate {
	TRI_NO = 0,
	TRI_YES = 1,
	TRI_MODULE = 2,
};

/* Externs the loader resolves: kernel config values and kernel symbols/kfuncs. */
#define __kconfig __attribute__((section(".kconfig")))
#define __ksym __attribute__((section(".ksyms")))

/* BTF type tags understood by the verifier. */
#define __kptr_untrusted __attribute__((btf_type_tag("kptr_untrusted")))
#define __kptr __attribute__((btf_type_tag("kptr")))
#define __percpu_kptr __attribute__((btf_type_tag("percpu_kptr")))
#define __uptr __attribute__((btf_type_tag("uptr")))

/* Global function argument annotations (BTF decl tags). */
#define __arg_ctx __attribute__((btf_decl_tag("arg:ctx")))
#define __arg_nonnull __attribute__((btf_decl_tag("arg:nonnull")))
#define __arg_nullable __attribute__((btf_decl_tag("arg:nullable")))
#define __arg_trusted __attribute__((btf_decl_tag("arg:trusted")))
#define __arg_untrusted __attribute__((btf_decl_tag("arg:untrusted")))
#define __arg_arena __attribute__((btf_decl_tag("arg:arena")))

/*
 * True if a __weak __ksym resolved on this kernel.  The static assertion
 * catches a non-weak symbol (whose address the compiler folds to non-zero).
 */
#if defined(__clang__)
#define bpf_ksym_exists(sym) ({							\
	_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); \
	!!sym;									\
})
#else
#define bpf_ksym_exists(sym) (!!(sym))
#endif

/* ---- variadic-macro plumbing (names shared with libbpf-style headers) -- */
#ifndef ___bpf_concat
#define ___bpf_concat(a, b) a ## b
#endif
#ifndef ___bpf_apply
#define ___bpf_apply(fn, n) ___bpf_concat(fn, n)
#endif
#ifndef ___bpf_nth
#define ___bpf_nth(_, _1, _2, _3, _4, _5, _6, _7, _8, _9, _a, _b, _c, N, ...) N
#endif
/* number of arguments, 0..12 */
#ifndef ___bpf_narg
#define ___bpf_narg(...) ___bpf_nth(_, ##__VA_ARGS__, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#endif

/* ___bpf_fill(arr, a, b, c) -> arr[0] = a; arr[1] = b; arr[2] = c */
#define ___bpf_fill0(arr, p, x) do {} while (0)
#define ___bpf_fill1(arr, p, x) arr[p] = x
#define ___bpf_fill2(arr, p, x, args...) arr[p] = x; ___bpf_fill1(arr, p + 1, args)
#define ___bpf_fill3(arr, p, x, args...) arr[p] = x; ___bpf_fill2(arr, p + 1, args)
#define ___bpf_fill4(arr, p, x, args...) arr[p] = x; ___bpf_fill3(arr, p + 1, args)
#define ___bpf_fill5(arr, p, x, args...) arr[p] = x; ___bpf_fill4(arr, p + 1, args)
#define ___bpf_fill6(arr, p, x, args...) arr[p] = x; ___bpf_fill5(arr, p + 1, args)
#define ___bpf_fill7(arr, p, x, args...) arr[p] = x; ___bpf_fill6(arr, p + 1, args)
#define ___bpf_fill8(arr, p, x, args...) arr[p] = x; ___bpf_fill7(arr, p + 1, args)
#define ___bpf_fill9(arr, p, x, args...) arr[p] = x; ___bpf_fill8(arr, p + 1, args)
#define ___bpf_fill10(arr, p, x, args...) arr[p] = x; ___bpf_fill9(arr, p + 1, args)
#define ___bpf_fill11(arr, p, x, args...) arr[p] = x; ___bpf_fill10(arr, p + 1, args)
#define ___bpf_fill12(arr, p, x, args...) arr[p] = x; ___bpf_fill11(arr, p + 1, args)
#define ___bpf_fill(arr, args...) ___bpf_apply(___bpf_fill, ___bpf_narg(args))(arr, 0, args)

/*
 * Pack the variadic arguments into a u64 array and call HELPER(leading...,
 * fmt, sizeof fmt, array, sizeof array).  Integer/pointer conversions into
 * the array are intended, so -Wint-conversion is silenced.
 */
#define ___pybpf_packed_call(call, fmt, args...)				\
({										\
	static const char ___fmt[] = fmt;					\
	unsigned long long ___param[___bpf_narg(args)];				\
	_Pragma("GCC diagnostic push")						\
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")			\
	___bpf_fill(___param, args);						\
	_Pragma("GCC diagnostic pop")						\
	call;									\
})

/* BPF_SEQ_PRINTF(seq, "fmt", args...) for bpf_iter programs */
#define BPF_SEQ_PRINTF(seq, fmt, args...)					\
	___pybpf_packed_call(bpf_seq_printf(seq, ___fmt, sizeof(___fmt),	\
					    ___param, sizeof(___param)), fmt, ##args)

/* BPF_SNPRINTF(out, size, "fmt", args...) */
#define BPF_SNPRINTF(out, out_size, fmt, args...)				\
	___pybpf_packed_call(bpf_snprintf(out, out_size, ___fmt,		\
					  ___param, sizeof(___param)), fmt, ##args)

/* bpf_stream_printk(stream, "fmt", args...) (needs the kfunc's declaration, e.g. from vmlinux.h) */
#define bpf_stream_printk(stream_id, fmt, args...)				\
	___pybpf_packed_call(bpf_stream_vprintk(stream_id, ___fmt,		\
						___param, sizeof(___param)), fmt, ##args)

/*
 * bpf_printk("fmt", args...): up to 3 arguments go through bpf_trace_printk()
 * (every kernel); more go through bpf_trace_vprintk() (5.16+).  With
 * BPF_NO_GLOBAL_DATA the format string lives on the stack instead of .rodata.
 */
#ifdef BPF_NO_GLOBAL_DATA
#define BPF_PRINTK_FMT_MOD
#else
#define BPF_PRINTK_FMT_MOD static const
#endif

#define __bpf_printk(fmt, ...)							\
({										\
	BPF_PRINTK_FMT_MOD char ____fmt[] = fmt;				\
	bpf_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__);		\
})

#define __bpf_vprintk(fmt, args...)						\
	___pybpf_packed_call(bpf_trace_vprintk(___fmt, sizeof(___fmt),	\
					       ___param, sizeof(___param)), fmt, ##args)

#define ___bpf_pick_printk(...)							\
	___bpf_nth(_, ##__VA_ARGS__, __bpf_vprintk, __bpf_vprintk, __bpf_vprintk, \
		   __bpf_vprintk, __bpf_vprintk, __bpf_vprintk, __bpf_vprintk,	\
		   __bpf_vprintk, __bpf_vprintk, __bpf_printk, __bpf_printk,	\
		   __bpf_printk, __bpf_printk)

#define bpf_printk(fmt, args...) ___bpf_pick_printk(args)(fmt, ##args)

/* ---- open-coded iterators --------------------------------------------- */
struct bpf_iter_num;
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __weak __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __weak __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __weak __ksym;

/*
 * The iterator lives in the for-init declaration with a cleanup() destructor;
 * ___p exists only to call _new() once.  Referencing _destroy explicitly makes
 * clang emit its BTF (it does not for a cleanup() function alone).
 */
#define ___pybpf_iter_decl(type, init_call)					\
	struct bpf_iter_##type ___it						\
		__attribute__((aligned(8), cleanup(bpf_iter_##type##_destroy))), \
		*___p __attribute__((unused)) =					\
			(init_call, (void)bpf_iter_##type##_destroy, (void *)0)

/* bpf_for_each(type, cur, args...) { ... }: cur = each element of iterator `type` */
#ifndef bpf_for_each
#define bpf_for_each(type, cur, args...)					\
	for (___pybpf_iter_decl(type, bpf_iter_##type##_new(&___it, ##args));	\
	     (((cur) = bpf_iter_##type##_next(&___it)));)
#endif

/* bpf_for(i, start, end) { ... }: i in [start, end), a range the verifier knows */
#ifndef bpf_for
#define bpf_for(i, start, end)							\
	for (___pybpf_iter_decl(num, bpf_iter_num_new(&___it, (start), (end))); \
	     ({									\
		int *___t = bpf_iter_num_next(&___it);				\
		(___t && ((i) = *___t, (i) >= (start) && (i) < (end)));		\
	     });)
#endif

/* bpf_repeat(n) { ... }: n iterations */
#ifndef bpf_repeat
#define bpf_repeat(N)								\
	for (___pybpf_iter_decl(num, bpf_iter_num_new(&___it, 0, (N)));		\
	     bpf_iter_num_next(&___it);)
#endif

#endif /* __BPF_HELPERS__ */
