/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pybpf's <bpf/bpf_core_read.h>: CO-RE (compile once, run everywhere)
 * reads and queries, source compatible with libbpf's header of the same name.
 *
 * Everything here expands to clang's BPF CO-RE builtins; the compiler records
 * a relocation in .BTF.ext and the loader patches the instruction for the
 * running kernel:
 *   __builtin_preserve_access_index(expr)      field offsets along expr
 *   __builtin_preserve_field_info(field, kind)  offset/size/existence/signedness/shifts
 *   __builtin_preserve_type_info(*(T *)0, kind) type existence/size/match
 *   __builtin_preserve_enum_value(*(E *)V, kind) enumerator existence/value
 *   __builtin_btf_type_id(*(T *)0, kind)        local or kernel BTF type id
 */
#ifndef __BPF_CORE_READ_H__
#define __BPF_CORE_READ_H__

#include "bpf_helpers.h"

/* Kinds for __builtin_preserve_field_info(); values are part of the ABI. */
enum bpf_field_info_kind {
	BPF_FIELD_BYTE_OFFSET = 0,	/* byte offset of the field */
	BPF_FIELD_BYTE_SIZE = 1,	/* byte size of the field (or its bitfield container) */
	BPF_FIELD_EXISTS = 2,		/* 1 if the field exists in the target kernel */
	BPF_FIELD_SIGNED = 3,		/* 1 if the field is signed */
	BPF_FIELD_LSHIFT_U64 = 4,	/* bitfield extraction: left shift of a u64 load */
	BPF_FIELD_RSHIFT_U64 = 5,	/* bitfield extraction: right shift afterwards */
};

/* Kinds for __builtin_btf_type_id(). */
enum bpf_type_id_kind {
	BPF_TYPE_ID_LOCAL = 0,		/* id in the program's own BTF */
	BPF_TYPE_ID_TARGET = 1,		/* id in the kernel's BTF */
};

/* Kinds for __builtin_preserve_type_info(). */
enum bpf_type_info_kind {
	BPF_TYPE_EXISTS = 0,		/* 1 if a compatible type exists in the kernel */
	BPF_TYPE_SIZE = 1,		/* its size in the kernel */
	BPF_TYPE_MATCHES = 2,		/* 1 if it matches (stricter than exists) */
};

/* Kinds for __builtin_preserve_enum_value(). */
enum bpf_enum_value_kind {
	BPF_ENUMVAL_EXISTS = 0,		/* 1 if the enumerator exists in the kernel */
	BPF_ENUMVAL_VALUE = 1,		/* its value in the kernel */
};

/* ---- bitfields ------------------------------------------------------- */

#define __CORE_RELO(src, field, info) \
	__builtin_preserve_field_info((src)->field, BPF_FIELD_##info)

/* Copy the field's container (BYTE_SIZE bytes) into the low-order end of a u64. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ___pybpf_bf_dst(dst, src, fld) ((void *)(dst))
#else
#define ___pybpf_bf_dst(dst, src, fld) ((void *)(dst) + (8 - __CORE_RELO(src, fld, BYTE_SIZE)))
#endif
#define __CORE_BITFIELD_PROBE_READ(dst, src, fld)				\
	bpf_probe_read_kernel(___pybpf_bf_dst(dst, src, fld),			\
			      __CORE_RELO(src, fld, BYTE_SIZE),			\
			      (const void *)(src) + __CORE_RELO(src, fld, BYTE_OFFSET))

/* Shift the container so that only the field is left, sign-extending if needed. */
#define ___pybpf_bf_extract(v, s, field) ({					\
	(v) <<= __CORE_RELO(s, field, LSHIFT_U64);				\
	if (__CORE_RELO(s, field, SIGNED))					\
		(v) = (unsigned long long)((long long)(v) >> __CORE_RELO(s, field, RSHIFT_U64)); \
	else									\
		(v) = (v) >> __CORE_RELO(s, field, RSHIFT_U64);			\
	(v);									\
})

/* Read a bitfield through bpf_probe_read_kernel() (for pointers the verifier can't follow). */
#define BPF_CORE_READ_BITFIELD_PROBED(s, field) ({				\
	unsigned long long ___bfv = 0;						\
	__CORE_BITFIELD_PROBE_READ(&___bfv, s, field);				\
	___pybpf_bf_extract(___bfv, s, field);					\
})

/* Read a bitfield with a direct load (BTF-typed pointers: tp_btf, fentry, ...). */
#define BPF_CORE_READ_BITFIELD(s, field) ({					\
	const void *___bfp = (const void *)(s) + __CORE_RELO(s, field, BYTE_OFFSET); \
	unsigned long long ___bfv;						\
	/* one relocated offset, not one per switch arm */			\
	asm volatile("" : "+r"(___bfp));					\
	switch (__CORE_RELO(s, field, BYTE_SIZE)) {				\
	case 1: ___bfv = *(const unsigned char *)___bfp; break;			\
	case 2: ___bfv = *(const unsigned short *)___bfp; break;		\
	case 4: ___bfv = *(const unsigned int *)___bfp; break;			\
	case 8: ___bfv = *(const unsigned long long *)___bfp; break;		\
	default: ___bfv = 0; break;						\
	}									\
	___pybpf_bf_extract(___bfv, s, field);					\
})

/* Write a bitfield in place (direct memory access). */
#define BPF_CORE_WRITE_BITFIELD(s, field, new_val) ({				\
	void *___bfp = (void *)(s) + __CORE_RELO(s, field, BYTE_OFFSET);	\
	unsigned int ___bsz = __CORE_RELO(s, field, BYTE_SIZE);			\
	unsigned int ___lsh = __CORE_RELO(s, field, LSHIFT_U64);		\
	unsigned int ___rsh = __CORE_RELO(s, field, RSHIFT_U64);		\
	unsigned long long ___old = 0, ___new = (new_val), ___mask;		\
	asm volatile("" : "+r"(___bfp));					\
	switch (___bsz) {							\
	case 1: ___old = *(unsigned char *)___bfp; break;			\
	case 2: ___old = *(unsigned short *)___bfp; break;			\
	case 4: ___old = *(unsigned int *)___bfp; break;			\
	case 8: ___old = *(unsigned long long *)___bfp; break;			\
	}									\
	/* the field occupies bits [rsh - lsh, rsh - lsh + width) of the container */ \
	___mask = (~0ULL << ___rsh) >> ___lsh;					\
	___old = (___old & ~___mask) | ((___new << (___rsh - ___lsh)) & ___mask); \
	switch (___bsz) {							\
	case 1: *(unsigned char *)___bfp = ___old; break;			\
	case 2: *(unsigned short *)___bfp = ___old; break;			\
	case 4: *(unsigned int *)___bfp = ___old; break;			\
	case 8: *(unsigned long long *)___bfp = ___old; break;			\
	}									\
})

/* ---- field, type and enum queries -------------------------------------- */

#define ___bpf_typeof(type) ((typeof(type) *)0)

/* field reference: either an expression (p->a.b) or a (type, field) pair */
#define ___bpf_field_ref1(field) (field)
#define ___bpf_field_ref2(type, field) (___bpf_typeof(type)->field)
#define ___bpf_field_ref(args...) ___bpf_apply(___bpf_field_ref, ___bpf_narg(args))(args)

/* bpf_core_field_exists(p->f) or bpf_core_field_exists(struct t, f) */
#define bpf_core_field_exists(field...) \
	__builtin_preserve_field_info(___bpf_field_ref(field), BPF_FIELD_EXISTS)
#define bpf_core_field_size(field...) \
	__builtin_preserve_field_info(___bpf_field_ref(field), BPF_FIELD_BYTE_SIZE)
#define bpf_core_field_offset(field...) \
	__builtin_preserve_field_info(___bpf_field_ref(field), BPF_FIELD_BYTE_OFFSET)
#define bpf_core_field_signed(field...) \
	__builtin_preserve_field_info(___bpf_field_ref(field), BPF_FIELD_SIGNED)

#define bpf_core_type_id_local(type) \
	__builtin_btf_type_id(*___bpf_typeof(type), BPF_TYPE_ID_LOCAL)
#define bpf_core_type_id_kernel(type) \
	__builtin_btf_type_id(*___bpf_typeof(type), BPF_TYPE_ID_TARGET)
#define bpf_core_type_exists(type) \
	__builtin_preserve_type_info(*___bpf_typeof(type), BPF_TYPE_EXISTS)
#define bpf_core_type_matches(type) \
	__builtin_preserve_type_info(*___bpf_typeof(type), BPF_TYPE_MATCHES)
#define bpf_core_type_size(type) \
	__builtin_preserve_type_info(*___bpf_typeof(type), BPF_TYPE_SIZE)

/* bpf_core_enum_value(enum pid_type, PIDTYPE_TGID) */
#define bpf_core_enum_value_exists(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_EXISTS)
#define bpf_core_enum_value(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_VALUE)

/* ---- single relocatable reads ------------------------------------------ */

#define bpf_core_read(dst, sz, src) \
	bpf_probe_read_kernel(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define bpf_core_read_user(dst, sz, src) \
	bpf_probe_read_user(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define bpf_core_read_str(dst, sz, src) \
	bpf_probe_read_kernel_str(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define bpf_core_read_user_str(dst, sz, src) \
	bpf_probe_read_user_str(dst, sz, (const void *)__builtin_preserve_access_index(src))

/* View a kernel pointer as `type` (read-only, verifier-checked) via the kfunc. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
#define bpf_core_cast(ptr, type) \
	((typeof(type) *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))

/* ---- pointer chains: BPF_CORE_READ(src, a, b, c) == src->a->b->c ----- */

/* typeof without top-level qualifiers, so temporaries are assignable */
#if (defined(__clang__) && __clang_major__ >= 19) || (!defined(__clang__) && __GNUC__ >= 14)
#define ___pybpf_typeof_unqual(x) __typeof_unqual__(x)
#else
#define ___pybpf_typeof_unqual(x) typeof(x)
#endif

/* (s)->a->b->... with up to 10 accessors (each may itself be `x.y` or `arr[i]`) */
#define ___pybpf_arrow1(s, a) (s)->a
#define ___pybpf_arrow2(s, a, ...) ___pybpf_arrow1((s)->a, __VA_ARGS__)
#define ___pybpf_arrow3(s, a, ...) ___pybpf_arrow2((s)->a, __VA_ARGS__)
#define ___pybpf_arrow4(s, a, ...) ___pybpf_arrow3((s)->a, __VA_ARGS__)
#define ___pybpf_arrow5(s, a, ...) ___pybpf_arrow4((s)->a, __VA_ARGS__)
#define ___pybpf_arrow6(s, a, ...) ___pybpf_arrow5((s)->a, __VA_ARGS__)
#define ___pybpf_arrow7(s, a, ...) ___pybpf_arrow6((s)->a, __VA_ARGS__)
#define ___pybpf_arrow8(s, a, ...) ___pybpf_arrow7((s)->a, __VA_ARGS__)
#define ___pybpf_arrow9(s, a, ...) ___pybpf_arrow8((s)->a, __VA_ARGS__)
#define ___pybpf_arrow10(s, a, ...) ___pybpf_arrow9((s)->a, __VA_ARGS__)
#define ___pybpf_arrow(s, ...) ___bpf_apply(___pybpf_arrow, ___bpf_narg(__VA_ARGS__))(s, __VA_ARGS__)

/*
 * One hop: declare a temporary of the type of `s->a` and read s->a into it
 * with the pointer-read function; the next hop starts from the temporary.
 * The last hop reads into dst with the final read function (which differs
 * from the pointer one for the *_STR_* variants).
 */
#define ___pybpf_hop(rd_ptr, t, s, a) \
	___pybpf_typeof_unqual((s)->a) t; rd_ptr((void *)&t, sizeof(t), &((s)->a));
#define ___pybpf_chain1(rd, rd_ptr, dst, s, a) \
	rd((void *)(dst), sizeof(*(dst)), &((s)->a));
#define ___pybpf_chain2(rd, rd_ptr, dst, s, a, ...) ___pybpf_hop(rd_ptr, ___t2, s, a) \
	___pybpf_chain1(rd, rd_ptr, dst, ___t2, __VA_ARGS__)
#define ___pybpf_chain3(rd, rd_ptr, dst, s, a, ...) ___pybpf_hop(rd_ptr, ___t3, s, a) \
	___pybpf_chain2(rd, rd_ptr, dst, ___t3, __VA_ARGS__)
#define ___pybpf_chain4(rd, rd_ptr, dst, s, a, ...) ___pybpf_hop(rd_ptr, ___t4, s, a) \
	___pybpf_chain3(rd, rd_ptr, dst, ___t4, __VA_ARGS__)
#define ___pybpf_chain5(rd, rd_ptr, dst, s, a, ...) ___pybpf_hop(rd_ptr, ___t5, s, a) \
	___pybpf_chain4(rd, rd_ptr, dst, ___t5, __VA_ARGS__)
#define ___pybpf_chain6(rd, rd_ptr, dst, s, a, ...) ___pybpf_hop(rd_ptr, ___t6, s, a) \
	___pybpf_chain5(rd, rd_ptr, dst, ___t6, __VA_ARGS__)
#define ___pybpf_chain7(rd, rd_ptr, dst, s, a, ...) ___pybpf_hop(rd_ptr, ___t7, s, a) \
	___pybpf_chain6(rd, rd_ptr, dst, ___t7, __VA_ARGS__)
#define ___pybpf_chain8(rd, rd_ptr, dst, s, a, ...) ___pybpf_hop(rd_ptr, ___t8, s, a) \
	___pybpf_chain7(rd, rd_ptr, dst, ___t8, __VA_ARGS__)
#define ___pybpf_chain9(rd, rd_ptr, dst, s, a, ...) ___pybpf_hop(rd_ptr, ___t9, s, a) \
	___pybpf_chain8(rd, rd_ptr, dst, ___t9, __VA_ARGS__)
#define ___pybpf_chain10(rd, rd_ptr, dst, s, a, ...) ___pybpf_hop(rd_ptr, ___t10, s, a) \
	___pybpf_chain9(rd, rd_ptr, dst, ___t10, __VA_ARGS__)
#define ___pybpf_chain(rd, rd_ptr, dst, s, ...) ({				\
	___bpf_apply(___pybpf_chain, ___bpf_narg(__VA_ARGS__))(rd, rd_ptr, dst, s, __VA_ARGS__) \
})

/* Read src->a->b->... into *dst; every hop is a CO-RE relocated probe read. */
#define BPF_CORE_READ_INTO(dst, src, a, ...) \
	___pybpf_chain(bpf_core_read, bpf_core_read, dst, (src), a, ##__VA_ARGS__)
#define BPF_CORE_READ_USER_INTO(dst, src, a, ...) \
	___pybpf_chain(bpf_core_read_user, bpf_core_read_user, dst, (src), a, ##__VA_ARGS__)
/* Same without CO-RE relocations (plain offsets from the local type). */
#define BPF_PROBE_READ_INTO(dst, src, a, ...) \
	___pybpf_chain(bpf_probe_read_kernel, bpf_probe_read_kernel, dst, (src), a, ##__VA_ARGS__)
#define BPF_PROBE_READ_USER_INTO(dst, src, a, ...) \
	___pybpf_chain(bpf_probe_read_user, bpf_probe_read_user, dst, (src), a, ##__VA_ARGS__)

/* String variants: the last hop is a *_str read (NUL-terminated, size of *dst at most). */
#define BPF_CORE_READ_STR_INTO(dst, src, a, ...) \
	___pybpf_chain(bpf_core_read_str, bpf_core_read, dst, (src), a, ##__VA_ARGS__)
#define BPF_CORE_READ_USER_STR_INTO(dst, src, a, ...) \
	___pybpf_chain(bpf_core_read_user_str, bpf_core_read_user, dst, (src), a, ##__VA_ARGS__)
#define BPF_PROBE_READ_STR_INTO(dst, src, a, ...) \
	___pybpf_chain(bpf_probe_read_kernel_str, bpf_probe_read_kernel, dst, (src), a, ##__VA_ARGS__)
#define BPF_PROBE_READ_USER_STR_INTO(dst, src, a, ...) \
	___pybpf_chain(bpf_probe_read_user_str, bpf_probe_read_user, dst, (src), a, ##__VA_ARGS__)

/* Value of src->a->b->... (0 if a read faults: the probe-read helpers zero their destination). */
#define ___pybpf_read_value(into, src, a, ...) ({				\
	___pybpf_typeof_unqual(___pybpf_arrow((src), a, ##__VA_ARGS__)) ___r;	\
	into(&___r, (src), a, ##__VA_ARGS__);					\
	___r;									\
})
#define BPF_CORE_READ(src, a, ...) ___pybpf_read_value(BPF_CORE_READ_INTO, src, a, ##__VA_ARGS__)
#define BPF_CORE_READ_USER(src, a, ...) \
	___pybpf_read_value(BPF_CORE_READ_USER_INTO, src, a, ##__VA_ARGS__)
#define BPF_PROBE_READ(src, a, ...) ___pybpf_read_value(BPF_PROBE_READ_INTO, src, a, ##__VA_ARGS__)
#define BPF_PROBE_READ_USER(src, a, ...) \
	___pybpf_read_value(BPF_PROBE_READ_USER_INTO, src, a, ##__VA_ARGS__)

#endif /* __BPF_CORE_READ_H__ */
