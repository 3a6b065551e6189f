/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pybpf's <bpf/bpf_tracing.h>: register access for kprobes/uprobes
 * (PT_REGS_*) and the typed-argument wrappers BPF_PROG, BPF_PROG2,
 * BPF_KPROBE, BPF_KRETPROBE, BPF_KSYSCALL, BPF_UPROBE, BPF_URETPROBE.
 * Source compatible with libbpf's header of the same name.
 *
 * The probed machine's architecture comes from -D__TARGET_ARCH_<arch>
 * (pybpf.compile passes it for the host): x86 (x86_64), arm64 and riscv
 * (riscv64) are supported.  Register names follow the kernel's struct
 * pt_regs when vmlinux.h is included (or __KERNEL__), else the UAPI one.
 */
#ifndef __BPF_TRACING_H__
#define __BPF_TRACING_H__

#include "bpf_helpers.h"
#include "bpf_core_read.h"

#if defined(__TARGET_ARCH_x86) || (!defined(__TARGET_ARCH_arm64) && !defined(__TARGET_ARCH_riscv) \
	&& defined(__x86_64__))
#define bpf_target_x86
#define bpf_target_defined
#elif defined(__TARGET_ARCH_arm64) || (!defined(__TARGET_ARCH_riscv) && defined(__aarch64__))
#define bpf_target_arm64
#define bpf_target_defined
#elif defined(__TARGET_ARCH_riscv) || (defined(__riscv) && __riscv_xlen == 64)
#define bpf_target_riscv
#define bpf_target_defined
#endif

#ifndef __BPF_TARGET_MISSING
#define __BPF_TARGET_MISSING \
	"GCC error \"PT_REGS_*: no BPF target arch: compile with -D__TARGET_ARCH_x86, _arm64 or _riscv\""
#endif

#if defined(bpf_target_x86)
/* System V AMD64 calling convention; syscalls pass argument 4 in r10, not rcx. */
#if defined(__KERNEL__) || defined(__VMLINUX_H__)
#define __PT_PARM1_REG di
#define __PT_PARM2_REG si
#define __PT_PARM3_REG dx
#define __PT_PARM4_REG cx
#define __PT_PARM5_REG r8
#define __PT_PARM6_REG r9
#define __PT_PARM4_SYSCALL_REG r10
#define __PT_RET_REG sp
#define __PT_FP_REG bp
#define __PT_RC_REG ax
#define __PT_SP_REG sp
#define __PT_IP_REG ip
#else /* UAPI <asm/ptrace.h> spelling */
#define __PT_PARM1_REG rdi
#define __PT_PARM2_REG rsi
#define __PT_PARM3_REG rdx
#define __PT_PARM4_REG rcx
#define __PT_PARM5_REG r8
#define __PT_PARM6_REG r9
#define __PT_PARM4_SYSCALL_REG r10
#define __PT_RET_REG rsp
#define __PT_FP_REG rbp
#define __PT_RC_REG rax
#define __PT_SP_REG rsp
#define __PT_IP_REG rip
#endif

#elif defined(bpf_target_arm64)
/* AAPCS64: x0-x7 carry arguments; x0 is clobbered by the syscall return, so
 * the first syscall argument is read from pt_regs.orig_x0 (CO-RE relocated). */
struct pt_regs___arm64 {
	unsigned long orig_x0;
} __attribute__((preserve_access_index));
#define __PT_REGS_CAST(x) ((const struct user_pt_regs *)(x))
#define __PT_PARM1_REG regs[0]
#define __PT_PARM2_REG regs[1]
#define __PT_PARM3_REG regs[2]
#define __PT_PARM4_REG regs[3]
#define __PT_PARM5_REG regs[4]
#define __PT_PARM6_REG regs[5]
#define __PT_PARM7_REG regs[6]
#define __PT_PARM8_REG regs[7]
#define PT_REGS_PARM1_SYSCALL(x) (((const struct pt_regs___arm64 *)(x))->orig_x0)
#define PT_REGS_PARM1_CORE_SYSCALL(x) BPF_CORE_READ((const struct pt_regs___arm64 *)(x), orig_x0)
#define __PT_RET_REG regs[30]
#define __PT_FP_REG regs[29]
#define __PT_RC_REG regs[0]
#define __PT_SP_REG sp
#define __PT_IP_REG pc

#elif defined(bpf_target_riscv)
/* RISC-V psABI: a0-a7 carry arguments; the first syscall argument is orig_a0. */
struct pt_regs___riscv {
	unsigned long orig_a0;
} __attribute__((preserve_access_index));
#define __PT_REGS_CAST(x) ((const struct user_regs_struct *)(x))
#define __PT_PARM1_REG a0
#define __PT_PARM2_REG a1
#define __PT_PARM3_REG a2
#define __PT_PARM4_REG a3
#define __PT_PARM5_REG a4
#define __PT_PARM6_REG a5
#define __PT_PARM7_REG a6
#define __PT_PARM8_REG a7
#define PT_REGS_PARM1_SYSCALL(x) (((const struct pt_regs___riscv *)(x))->orig_a0)
#define PT_REGS_PARM1_CORE_SYSCALL(x) BPF_CORE_READ((const struct pt_regs___riscv *)(x), orig_a0)
#define __PT_RET_REG ra
#define __PT_FP_REG s0
#define __PT_RC_REG a0
#define __PT_SP_REG sp
#define __PT_IP_REG pc
#endif

#if defined(bpf_target_defined)

struct pt_regs;

#ifndef __PT_REGS_CAST
#define __PT_REGS_CAST(x) (x)
#endif
/* registers an architecture does not pass arguments in: a compile error on use */
#ifndef __PT_PARM7_REG
#define __PT_PARM7_REG __unsupported__
#endif
#ifndef __PT_PARM8_REG
#define __PT_PARM8_REG __unsupported__
#endif
/* syscall arguments: the function-call registers unless overridden above */
#ifndef __PT_PARM4_SYSCALL_REG
#define __PT_PARM4_SYSCALL_REG __PT_PARM4_REG
#endif
#define __PT_PARM2_SYSCALL_REG __PT_PARM2_REG
#define __PT_PARM3_SYSCALL_REG __PT_PARM3_REG
#define __PT_PARM5_SYSCALL_REG __PT_PARM5_REG
#define __PT_PARM6_SYSCALL_REG __PT_PARM6_REG
#define __PT_PARM7_SYSCALL_REG __unsupported__
#ifndef PT_REGS_PARM1_SYSCALL
#define __PT_PARM1_SYSCALL_REG __PT_PARM1_REG
#endif

/* direct loads: kprobe contexts are readable struct pt_regs */
#define ___pybpf_reg(x, r) (__PT_REGS_CAST(x)->r)
#define PT_REGS_PARM1(x) ___pybpf_reg(x, __PT_PARM1_REG)
#define PT_REGS_PARM2(x) ___pybpf_reg(x, __PT_PARM2_REG)
#define PT_REGS_PARM3(x) ___pybpf_reg(x, __PT_PARM3_REG)
#define PT_REGS_PARM4(x) ___pybpf_reg(x, __PT_PARM4_REG)
#define PT_REGS_PARM5(x) ___pybpf_reg(x, __PT_PARM5_REG)
#define PT_REGS_PARM6(x) ___pybpf_reg(x, __PT_PARM6_REG)
#define PT_REGS_PARM7(x) ___pybpf_reg(x, __PT_PARM7_REG)
#define PT_REGS_PARM8(x) ___pybpf_reg(x, __PT_PARM8_REG)
#define PT_REGS_RET(x) ___pybpf_reg(x, __PT_RET_REG)
#define PT_REGS_FP(x) ___pybpf_reg(x, __PT_FP_REG)
#define PT_REGS_RC(x) ___pybpf_reg(x, __PT_RC_REG)
#define PT_REGS_SP(x) ___pybpf_reg(x, __PT_SP_REG)
#define PT_REGS_IP(x) ___pybpf_reg(x, __PT_IP_REG)

/* probe reads with CO-RE offsets: for a pt_regs pointer that is not the context */
#define ___pybpf_reg_core(x, r) BPF_CORE_READ(__PT_REGS_CAST(x), r)
#define PT_REGS_PARM1_CORE(x) ___pybpf_reg_core(x, __PT_PARM1_REG)
#define PT_REGS_PARM2_CORE(x) ___pybpf_reg_core(x, __PT_PARM2_REG)
#define PT_REGS_PARM3_CORE(x) ___pybpf_reg_core(x, __PT_PARM3_REG)
#define PT_REGS_PARM4_CORE(x) ___pybpf_reg_core(x, __PT_PARM4_REG)
#define PT_REGS_PARM5_CORE(x) ___pybpf_reg_core(x, __PT_PARM5_REG)
#define PT_REGS_PARM6_CORE(x) ___pybpf_reg_core(x, __PT_PARM6_REG)
#define PT_REGS_PARM7_CORE(x) ___pybpf_reg_core(x, __PT_PARM7_REG)
#define PT_REGS_PARM8_CORE(x) ___pybpf_reg_core(x, __PT_PARM8_REG)
#define PT_REGS_RET_CORE(x) ___pybpf_reg_core(x, __PT_RET_REG)
#define PT_REGS_FP_CORE(x) ___pybpf_reg_core(x, __PT_FP_REG)
#define PT_REGS_RC_CORE(x) ___pybpf_reg_core(x, __PT_RC_REG)
#define PT_REGS_SP_CORE(x) ___pybpf_reg_core(x, __PT_SP_REG)
#define PT_REGS_IP_CORE(x) ___pybpf_reg_core(x, __PT_IP_REG)

/* syscall arguments from the inner struct pt_regs (see PT_REGS_SYSCALL_REGS) */
#ifndef PT_REGS_PARM1_SYSCALL
#define PT_REGS_PARM1_SYSCALL(x) ___pybpf_reg(x, __PT_PARM1_SYSCALL_REG)
#define PT_REGS_PARM1_CORE_SYSCALL(x) ___pybpf_reg_core(x, __PT_PARM1_SYSCALL_REG)
#endif
#define PT_REGS_PARM2_SYSCALL(x) ___pybpf_reg(x, __PT_PARM2_SYSCALL_REG)
#define PT_REGS_PARM3_SYSCALL(x) ___pybpf_reg(x, __PT_PARM3_SYSCALL_REG)
#define PT_REGS_PARM4_SYSCALL(x) ___pybpf_reg(x, __PT_PARM4_SYSCALL_REG)
#define PT_REGS_PARM5_SYSCALL(x) ___pybpf_reg(x, __PT_PARM5_SYSCALL_REG)
#define PT_REGS_PARM6_SYSCALL(x) ___pybpf_reg(x, __PT_PARM6_SYSCALL_REG)
#define PT_REGS_PARM7_SYSCALL(x) ___pybpf_reg(x, __PT_PARM7_SYSCALL_REG)
#define PT_REGS_PARM2_CORE_SYSCALL(x) ___pybpf_reg_core(x, __PT_PARM2_SYSCALL_REG)
#define PT_REGS_PARM3_CORE_SYSCALL(x) ___pybpf_reg_core(x, __PT_PARM3_SYSCALL_REG)
#define PT_REGS_PARM4_CORE_SYSCALL(x) ___pybpf_reg_core(x, __PT_PARM4_SYSCALL_REG)
#define PT_REGS_PARM5_CORE_SYSCALL(x) ___pybpf_reg_core(x, __PT_PARM5_SYSCALL_REG)
#define PT_REGS_PARM6_CORE_SYSCALL(x) ___pybpf_reg_core(x, __PT_PARM6_SYSCALL_REG)
#define PT_REGS_PARM7_CORE_SYSCALL(x) ___pybpf_reg_core(x, __PT_PARM7_SYSCALL_REG)

/* return address of the probed function: in the link register on arm64/riscv,
 * on the stack (kprobe) or above the frame pointer (kretprobe) on x86 */
#if defined(bpf_target_x86)
#define BPF_KPROBE_READ_RET_IP(ip, ctx) \
	({ bpf_probe_read_kernel(&(ip), sizeof(ip), (void *)PT_REGS_RET(ctx)); })
#define BPF_KRETPROBE_READ_RET_IP(ip, ctx) \
	({ bpf_probe_read_kernel(&(ip), sizeof(ip), (void *)(PT_REGS_FP(ctx) + sizeof(ip))); })
#else
#define BPF_KPROBE_READ_RET_IP(ip, ctx) ({ (ip) = PT_REGS_RET(ctx); })
#define BPF_KRETPROBE_READ_RET_IP BPF_KPROBE_READ_RET_IP
#endif

#else /* !bpf_target_defined: every accessor is a compile-time error with a hint */

#define ___pybpf_no_target(x) ({ _Pragma(__BPF_TARGET_MISSING); 0l; })
#define PT_REGS_PARM1(x) ___pybpf_no_target(x)
#define PT_REGS_PARM2(x) ___pybpf_no_target(x)
#define PT_REGS_PARM3(x) ___pybpf_no_target(x)
#define PT_REGS_PARM4(x) ___pybpf_no_target(x)
#define PT_REGS_PARM5(x) ___pybpf_no_target(x)
#define PT_REGS_PARM6(x) ___pybpf_no_target(x)
#define PT_REGS_PARM7(x) ___pybpf_no_target(x)
#define PT_REGS_PARM8(x) ___pybpf_no_target(x)
#define PT_REGS_RET(x) ___pybpf_no_target(x)
#define PT_REGS_FP(x) ___pybpf_no_target(x)
#define PT_REGS_RC(x) ___pybpf_no_target(x)
#define PT_REGS_SP(x) ___pybpf_no_target(x)
#define PT_REGS_IP(x) ___pybpf_no_target(x)
#define PT_REGS_PARM1_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_PARM2_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_PARM3_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_PARM4_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_PARM5_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_PARM6_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_PARM7_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_PARM8_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_RET_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_FP_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_RC_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_SP_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_IP_CORE(x) ___pybpf_no_target(x)
#define PT_REGS_PARM1_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM2_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM3_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM4_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM5_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM6_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM7_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM1_CORE_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM2_CORE_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM3_CORE_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM4_CORE_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM5_CORE_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM6_CORE_SYSCALL(x) ___pybpf_no_target(x)
#define PT_REGS_PARM7_CORE_SYSCALL(x) ___pybpf_no_target(x)
#define BPF_KPROBE_READ_RET_IP(ip, ctx) ___pybpf_no_target(ctx)
#define BPF_KRETPROBE_READ_RET_IP(ip, ctx) ___pybpf_no_target(ctx)

#endif /* bpf_target_defined */

/*
 * In a kprobe on a syscall handler (__x64_sys_*), the handler's only argument
 * is the user's struct pt_regs: these macros read the syscall arguments from it.
 */
#ifndef PT_REGS_SYSCALL_REGS
#define PT_REGS_SYSCALL_REGS(ctx) ((struct pt_regs *)PT_REGS_PARM1(ctx))
#endif

/* ---- argument lists ---------------------------------------------------- */

/* ___pybpf_seq<N>(f) -> , f(1), f(2), ..., f(N) */
#define ___pybpf_seq0(f)
#define ___pybpf_seq1(f) , f(1)
#define ___pybpf_seq2(f) ___pybpf_seq1(f), f(2)
#define ___pybpf_seq3(f) ___pybpf_seq2(f), f(3)
#define ___pybpf_seq4(f) ___pybpf_seq3(f), f(4)
#define ___pybpf_seq5(f) ___pybpf_seq4(f), f(5)
#define ___pybpf_seq6(f) ___pybpf_seq5(f), f(6)
#define ___pybpf_seq7(f) ___pybpf_seq6(f), f(7)
#define ___pybpf_seq8(f) ___pybpf_seq7(f), f(8)
#define ___pybpf_seq9(f) ___pybpf_seq8(f), f(9)
#define ___pybpf_seq10(f) ___pybpf_seq9(f), f(10)
#define ___pybpf_seq11(f) ___pybpf_seq10(f), f(11)
#define ___pybpf_seq12(f) ___pybpf_seq11(f), f(12)
#define ___pybpf_seq(n, f) ___bpf_apply(___pybpf_seq, n)(f)

/* "ctx, <one value per declared argument>" for each kind of context */
#define ___pybpf_ctx_slot(i) ctx[i - 1]
#define ___pybpf_kprobe_arg(i) (unsigned long long)PT_REGS_PARM##i(ctx)
#define ___pybpf_syscall_arg(i) (unsigned long long)PT_REGS_PARM##i##_SYSCALL(regs)
#define ___pybpf_syswrap_arg(i) (unsigned long long)PT_REGS_PARM##i##_CORE_SYSCALL(regs)
#define ___bpf_ctx_cast(args...) ctx ___pybpf_seq(___bpf_narg(args), ___pybpf_ctx_slot)
#define ___bpf_kprobe_args(args...) ctx ___pybpf_seq(___bpf_narg(args), ___pybpf_kprobe_arg)
#define ___bpf_kretprobe_args(args...) \
	ctx ___pybpf_seq(___bpf_narg(args), ___pybpf_kretprobe_rc)
#define ___pybpf_kretprobe_rc(i) (unsigned long long)PT_REGS_RC(ctx)
#define ___bpf_syscall_args(args...) ctx ___pybpf_seq(___bpf_narg(args), ___pybpf_syscall_arg)
#define ___bpf_syswrap_args(args...) ctx ___pybpf_seq(___bpf_narg(args), ___pybpf_syswrap_arg)

/*
 * The wrapper pattern shared by BPF_PROG/BPF_KPROBE/...:
 *   int BPF_KPROBE(name, struct file *f, int mode) { body }
 * becomes
 *   int name(struct pt_regs *ctx);                       (declares the return type)
 *   static inline int ____name(struct pt_regs *ctx, struct file *f, int mode);
 *   int name(struct pt_regs *ctx) { return ____name(ctx, PARM1, PARM2); }
 *   static inline int ____name(struct pt_regs *ctx, struct file *f, int mode) { body }
 * The u64 -> pointer conversions in the call are intended (-Wint-conversion off).
 */
#define ___pybpf_wrapper(name, ctx_decl, call_args, args...)			\
name(ctx_decl);									\
static __always_inline typeof(name(0)) ____##name(ctx_decl, ##args);		\
typeof(name(0)) name(ctx_decl)							\
{										\
	_Pragma("GCC diagnostic push")						\
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")			\
	return ____##name(call_args);						\
	_Pragma("GCC diagnostic pop")						\
}										\
static __always_inline typeof(name(0)) ____##name(ctx_decl, ##args)

/* fentry/fexit/tp_btf/raw_tp/lsm/struct_ops: ctx is an array of u64 arguments */
#define BPF_PROG(name, args...) \
	___pybpf_wrapper(name, unsigned long long *ctx, ___bpf_ctx_cast(args), ##args)

/* kprobe: arguments from the probed function's registers */
#define BPF_KPROBE(name, args...) \
	___pybpf_wrapper(name, struct pt_regs *ctx, ___bpf_kprobe_args(args), ##args)

/* kretprobe: the optional single argument is the return value */
#define BPF_KRETPROBE(name, args...) \
	___pybpf_wrapper(name, struct pt_regs *ctx, ___bpf_kretprobe_args(args), ##args)

/* uprobe/uretprobe: same register conventions as kprobes */
#define BPF_UPROBE(name, args...) BPF_KPROBE(name, ##args)
#define BPF_URETPROBE(name, args...) BPF_KRETPROBE(name, ##args)

/*
 * ksyscall/kprobe on a syscall: typed syscall arguments.  With
 * CONFIG_ARCH_HAS_SYSCALL_WRAPPER (the loader fills the virtual kconfig
 * LINUX_HAS_SYSCALL_WRAPPER) the handler receives a pointer to the user's
 * pt_regs, which is not the context and needs probe reads.
 */
#define BPF_KSYSCALL(name, args...)						\
name(struct pt_regs *ctx);							\
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;				\
static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args); \
typeof(name(0)) name(struct pt_regs *ctx)					\
{										\
	struct pt_regs *regs = LINUX_HAS_SYSCALL_WRAPPER			\
			       ? (struct pt_regs *)PT_REGS_PARM1(ctx) : ctx;	\
	_Pragma("GCC diagnostic push")						\
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")			\
	if (LINUX_HAS_SYSCALL_WRAPPER)						\
		return ____##name(___bpf_syswrap_args(args));			\
	else									\
		return ____##name(___bpf_syscall_args(args));			\
	_Pragma("GCC diagnostic pop")						\
}										\
static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args)

#define BPF_KPROBE_SYSCALL BPF_KSYSCALL

/* ---- BPF_PROG2: arguments by (type, name) pairs, structs up to 16 bytes -- */

/* number of (type, name) pairs, 0..12 */
#ifndef ___bpf_nth2
#define ___bpf_nth2(_, _1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, \
		    _16, _17, _18, _19, _20, _21, _22, _23, _24, N, ...) N
#endif
#ifndef ___bpf_narg2
#define ___bpf_narg2(...) ___bpf_nth2(_, ##__VA_ARGS__, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8, \
				      7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0)
#endif

/* u64 slots an argument of type t takes in the trampoline's array */
#define ___bpf_treg_cnt(t) __builtin_choose_expr(sizeof(t) <= 8, 1,		\
			   __builtin_choose_expr(sizeof(t) == 16, 2, (void)0))

/* reinterpret slot(s) n.. of ctx as a t (truncating through a u<size> first) */
#define ___pybpf_as(t, u, n) ({ union { u ___z; t ___v; } ___c = { .___z = (u)ctx[n] }; ___c.___v; })
#define ___pybpf_as2(t, n) \
	({ union { __u64 ___z[2]; t ___v; } ___c = { .___z = { ctx[n], ctx[(n) + 1] } }; ___c.___v; })
#define ___bpf_union_arg(t, n)							\
	__builtin_choose_expr(sizeof(t) == 1, ___pybpf_as(t, __u8, n),		\
	__builtin_choose_expr(sizeof(t) == 2, ___pybpf_as(t, __u16, n),		\
	__builtin_choose_expr(sizeof(t) == 4, ___pybpf_as(t, __u32, n),		\
	__builtin_choose_expr(sizeof(t) == 8, ___pybpf_as(t, __u64, n),		\
	__builtin_choose_expr(sizeof(t) == 16, ___pybpf_as2(t, n), (void)0)))))

/* ", value1, value2, ..." where each value starts at slot `o` (a running sum) */
#define ___pybpf_p2_arg0(o)
#define ___pybpf_p2_arg1(o, t, x) , ___bpf_union_arg(t, o)
#define ___pybpf_p2_arg2(o, t, x, ...) , ___bpf_union_arg(t, o) ___pybpf_p2_arg1(o + ___bpf_treg_cnt(t), __VA_ARGS__)
#define ___pybpf_p2_arg3(o, t, x, ...) , ___bpf_union_arg(t, o) ___pybpf_p2_arg2(o + ___bpf_treg_cnt(t), __VA_ARGS__)
#define ___pybpf_p2_arg4(o, t, x, ...) , ___bpf_union_arg(t, o) ___pybpf_p2_arg3(o + ___bpf_treg_cnt(t), __VA_ARGS__)
#define ___pybpf_p2_arg5(o, t, x, ...) , ___bpf_union_arg(t, o) ___pybpf_p2_arg4(o + ___bpf_treg_cnt(t), __VA_ARGS__)
#define ___pybpf_p2_arg6(o, t, x, ...) , ___bpf_union_arg(t, o) ___pybpf_p2_arg5(o + ___bpf_treg_cnt(t), __VA_ARGS__)
#define ___pybpf_p2_arg7(o, t, x, ...) , ___bpf_union_arg(t, o) ___pybpf_p2_arg6(o + ___bpf_treg_cnt(t), __VA_ARGS__)
#define ___pybpf_p2_arg8(o, t, x, ...) , ___bpf_union_arg(t, o) ___pybpf_p2_arg7(o + ___bpf_treg_cnt(t), __VA_ARGS__)
#define ___pybpf_p2_arg9(o, t, x, ...) , ___bpf_union_arg(t, o) ___pybpf_p2_arg8(o + ___bpf_treg_cnt(t), __VA_ARGS__)
#define ___pybpf_p2_arg10(o, t, x, ...) , ___bpf_union_arg(t, o) ___pybpf_p2_arg9(o + ___bpf_treg_cnt(t), __VA_ARGS__)
#define ___pybpf_p2_arg11(o, t, x, ...) , ___bpf_union_arg(t, o) ___pybpf_p2_arg10(o + ___bpf_treg_cnt(t), __VA_ARGS__)
#define ___pybpf_p2_arg12(o, t, x, ...) , ___bpf_union_arg(t, o) ___pybpf_p2_arg11(o + ___bpf_treg_cnt(t), __VA_ARGS__)
#define ___bpf_ctx_arg(args...) ___bpf_apply(___pybpf_p2_arg, ___bpf_narg2(args))(0, ##args)

/* ", t1 x1, t2 x2, ..." */
#define ___pybpf_p2_decl0()
#define ___pybpf_p2_decl1(t, x) , t x
#define ___pybpf_p2_decl2(t, x, ...) , t x ___pybpf_p2_decl1(__VA_ARGS__)
#define ___pybpf_p2_decl3(t, x, ...) , t x ___pybpf_p2_decl2(__VA_ARGS__)
#define ___pybpf_p2_decl4(t, x, ...) , t x ___pybpf_p2_decl3(__VA_ARGS__)
#define ___pybpf_p2_decl5(t, x, ...) , t x ___pybpf_p2_decl4(__VA_ARGS__)
#define ___pybpf_p2_decl6(t, x, ...) , t x ___pybpf_p2_decl5(__VA_ARGS__)
#define ___pybpf_p2_decl7(t, x, ...) , t x ___pybpf_p2_decl6(__VA_ARGS__)
#define ___pybpf_p2_decl8(t, x, ...) , t x ___pybpf_p2_decl7(__VA_ARGS__)
#define ___pybpf_p2_decl9(t, x, ...) , t x ___pybpf_p2_decl8(__VA_ARGS__)
#define ___pybpf_p2_decl10(t, x, ...) , t x ___pybpf_p2_decl9(__VA_ARGS__)
#define ___pybpf_p2_decl11(t, x, ...) , t x ___pybpf_p2_decl10(__VA_ARGS__)
#define ___pybpf_p2_decl12(t, x, ...) , t x ___pybpf_p2_decl11(__VA_ARGS__)
#define ___bpf_ctx_decl(args...) ___bpf_apply(___pybpf_p2_decl, ___bpf_narg2(args))(args)

/*
 * int BPF_PROG2(name, struct sockaddr_in, addr, int, len) { ... }
 * Like BPF_PROG, but types and names are separate arguments so that struct
 * arguments passed by value (one or two u64 slots) can be unpacked.
 */
#define BPF_PROG2(name, args...)						\
name(unsigned long long *ctx);							\
static __always_inline typeof(name(0))						\
____##name(unsigned long long *ctx ___bpf_ctx_decl(args));			\
typeof(name(0)) name(unsigned long long *ctx)					\
{										\
	return ____##name(ctx ___bpf_ctx_arg(args));				\
}										\
static __always_inline typeof(name(0))						\
____##name(unsigned long long *ctx ___bpf_ctx_decl(args))

#endif /* __BPF_TRACING_H__ */
