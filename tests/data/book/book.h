/* Minimal declarations for the "Learning eBPF" (Liz Rice, O'Reilly) examples of
 * tests/data/book, instead of vmlinux.h and libbpf's bpf_helpers.h /
 * bpf_tracing.h / bpf_core_read.h: only what the examples use, written out here
 * so the tests depend on nothing but clang.
 *
 * Kernel structs are declared with preserve_access_index and only the fields
 * used (at the wrong offsets on purpose): CO-RE relocations must place them.
 */
#pragma once

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;
typedef long long __s64;
typedef __u32 u32;
typedef __u64 u64;

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __kconfig __attribute__((section(".kconfig")))

enum { BPF_MAP_TYPE_HASH = 1, BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4 };
enum xdp_action { XDP_ABORTED = 0, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT };
#define BPF_F_CURRENT_CPU 0xffffffffULL

/* Program contexts (UAPI: fixed layout, no CO-RE needed). */
struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

/* Helpers, by their UAPI numbers. */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_trace_printk)(const char *fmt, __u32 fmt_size, ...) = (void *)6;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static __u64 (*bpf_get_current_uid_gid)(void) = (void *)15;
static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)16;
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data, __u64 size) = (void *)25;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
static long (*bpf_probe_read_user_str)(void *dst, __u32 size, const void *src) = (void *)114;
static long (*bpf_probe_read_kernel_str)(void *dst, __u32 size, const void *src) = (void *)115;

/* libbpf's bpf_printk (the format string becomes a static array in .rodata). */
#define bpf_printk(fmt, args...)					\
({									\
	static const char ____fmt[] = fmt;				\
	bpf_trace_printk(____fmt, sizeof(____fmt), ##args);		\
})

/* ---------------------------------------------------------------- CO-RE */
#if defined(__TARGET_ARCH_x86)
/* x86-64 struct pt_regs, only the first argument register. */
struct pt_regs {
	unsigned long di;
} __attribute__((preserve_access_index));
#define PT_REGS_PARM1(x) ((x)->di)
#define PT_REGS_PARM1_CORE(x)						\
({									\
	unsigned long __v = 0;						\
	bpf_probe_read_kernel(&__v, sizeof(__v),			\
			      __builtin_preserve_access_index(&(x)->di));	\
	__v;								\
})
#else
#error "tests/data/book/book.h: only x86-64 is described (compile with -D__TARGET_ARCH_x86)"
#endif

/* libbpf's BPF_KPROBE_SYSCALL (alias BPF_KSYSCALL), for one argument: with syscall
 * wrappers (x86-64 since 4.17) the kprobe's pt_regs hold a pointer to the user
 * pt_regs, read with CO-RE; without, the argument is in ctx directly. */
#define BPF_KPROBE_SYSCALL(name, arg1)					\
name(struct pt_regs *ctx);						\
extern int LINUX_HAS_SYSCALL_WRAPPER __kconfig;			\
static __always_inline int ____##name(struct pt_regs *ctx, arg1);	\
int name(struct pt_regs *ctx)						\
{									\
	struct pt_regs *regs = LINUX_HAS_SYSCALL_WRAPPER		\
			       ? (struct pt_regs *)PT_REGS_PARM1(ctx)	\
			       : ctx;					\
	if (LINUX_HAS_SYSCALL_WRAPPER)					\
		return ____##name(ctx, (void *)PT_REGS_PARM1_CORE(regs)); \
	else								\
		return ____##name(ctx, (void *)PT_REGS_PARM1(regs));	\
}									\
static __always_inline int ____##name(struct pt_regs *ctx, arg1)
