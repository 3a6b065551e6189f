/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pybpf's <bpf/bpf_endian.h>: byte-order conversion for BPF programs
 * (source compatible with libbpf's header of the same name).
 *
 * bpf_htons(x) & co. fold to a constant when x is a constant (usable in
 * case labels and static initializers via the __bpf_constant_* forms) and
 * otherwise compile to one BPF byte-swap instruction.  BPF byte order is the
 * compiler's target byte order (__BYTE_ORDER__), which for pybpf is the host's.
 */
#ifndef __BPF_ENDIAN__
#define __BPF_ENDIAN__

/* Byte swaps written out, so that they are integer constant expressions. */
#define ___bpf_swab16(x) ((__u16)((((__u16)(x) & 0x00ffU) << 8) | (((__u16)(x) & 0xff00U) >> 8)))

#define ___bpf_swab32(x) ((__u32)((((__u32)(x) & 0x000000ffU) << 24) |		\
				  (((__u32)(x) & 0x0000ff00U) << 8) |		\
				  (((__u32)(x) & 0x00ff0000U) >> 8) |		\
				  (((__u32)(x) & 0xff000000U) >> 24)))

#define ___bpf_swab64(x) ((__u64)((((__u64)(x) & 0x00000000000000ffULL) << 56) |	\
				  (((__u64)(x) & 0x000000000000ff00ULL) << 40) |	\
				  (((__u64)(x) & 0x0000000000ff0000ULL) << 24) |	\
				  (((__u64)(x) & 0x00000000ff000000ULL) << 8) |	\
				  (((__u64)(x) & 0x000000ff00000000ULL) >> 8) |	\
				  (((__u64)(x) & 0x0000ff0000000000ULL) >> 24) |	\
				  (((__u64)(x) & 0x00ff000000000000ULL) >> 40) |	\
				  (((__u64)(x) & 0xff00000000000000ULL) >> 56)))

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
# define __bpf_ntohs(x)			__builtin_bswap16(x)
# define __bpf_htons(x)			__builtin_bswap16(x)
# define __bpf_constant_ntohs(x)	___bpf_swab16(x)
# define __bpf_constant_htons(x)	___bpf_swab16(x)
# define __bpf_ntohl(x)			__builtin_bswap32(x)
# define __bpf_htonl(x)			__builtin_bswap32(x)
# define __bpf_constant_ntohl(x)	___bpf_swab32(x)
# define __bpf_constant_htonl(x)	___bpf_swab32(x)
# define __bpf_be64_to_cpu(x)		__builtin_bswap64(x)
# define __bpf_cpu_to_be64(x)		__builtin_bswap64(x)
# define __bpf_constant_be64_to_cpu(x)	___bpf_swab64(x)
# define __bpf_constant_cpu_to_be64(x)	___bpf_swab64(x)
#elif __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
# define __bpf_ntohs(x)			(x)
# define __bpf_htons(x)			(x)
# define __bpf_constant_ntohs(x)	(x)
# define __bpf_constant_htons(x)	(x)
# define __bpf_ntohl(x)			(x)
# define __bpf_htonl(x)			(x)
# define __bpf_constant_ntohl(x)	(x)
# define __bpf_constant_htonl(x)	(x)
# define __bpf_be64_to_cpu(x)		(x)
# define __bpf_cpu_to_be64(x)		(x)
# define __bpf_constant_be64_to_cpu(x)	(x)
# define __bpf_constant_cpu_to_be64(x)	(x)
#else
# error "__BYTE_ORDER__ is neither little nor big endian"
#endif

#define ___bpf_pick(c, x) (__builtin_constant_p(x) ? __bpf_constant_##c(x) : __bpf_##c(x))

#define bpf_htons(x)		___bpf_pick(htons, x)
#define bpf_ntohs(x)		___bpf_pick(ntohs, x)
#define bpf_htonl(x)		___bpf_pick(htonl, x)
#define bpf_ntohl(x)		___bpf_pick(ntohl, x)
#define bpf_cpu_to_be64(x)	___bpf_pick(cpu_to_be64, x)
#define bpf_be64_to_cpu(x)	___bpf_pick(be64_to_cpu, x)

#endif /* __BPF_ENDIAN__ */
