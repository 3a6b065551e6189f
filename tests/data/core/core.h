/* Minimal libbpf-like definitions for the CO-RE test objects (no vmlinux.h). */
#ifndef CORE_TEST_H
#define CORE_TEST_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
#define barrier_var(var) asm volatile("" : "+r"(var))

static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
static __u64 (*bpf_get_current_task)(void) = (void *)35;

enum { BPF_FIELD_BYTE_OFFSET = 0, BPF_FIELD_BYTE_SIZE = 1, BPF_FIELD_EXISTS = 2, BPF_FIELD_SIGNED = 3,
       BPF_FIELD_LSHIFT_U64 = 4, BPF_FIELD_RSHIFT_U64 = 5 };
enum { BPF_TYPE_ID_LOCAL = 0, BPF_TYPE_ID_TARGET = 1 };
enum { BPF_TYPE_EXISTS = 0, BPF_TYPE_SIZE = 1, BPF_TYPE_MATCHES = 2 };
enum { BPF_ENUMVAL_EXISTS = 0, BPF_ENUMVAL_VALUE = 1 };

#define ___bpf_typeof(type) ((typeof(type) *) 0)
#define bpf_core_field_offset(f) __builtin_preserve_field_info(f, BPF_FIELD_BYTE_OFFSET)
#define bpf_core_field_size(f) __builtin_preserve_field_info(f, BPF_FIELD_BYTE_SIZE)
#define bpf_core_field_exists(f) __builtin_preserve_field_info(f, BPF_FIELD_EXISTS)
#define bpf_core_field_signed(f) __builtin_preserve_field_info(f, BPF_FIELD_SIGNED)
#define bpf_core_field_lshift(f) __builtin_preserve_field_info(f, BPF_FIELD_LSHIFT_U64)
#define bpf_core_field_rshift(f) __builtin_preserve_field_info(f, BPF_FIELD_RSHIFT_U64)
#define bpf_core_type_id_local(type) __builtin_btf_type_id(*___bpf_typeof(type), BPF_TYPE_ID_LOCAL)
#define bpf_core_type_id_kernel(type) __builtin_btf_type_id(*___bpf_typeof(type), BPF_TYPE_ID_TARGET)
#define bpf_core_type_exists(type) __builtin_preserve_type_info(*___bpf_typeof(type), BPF_TYPE_EXISTS)
#define bpf_core_type_size(type) __builtin_preserve_type_info(*___bpf_typeof(type), BPF_TYPE_SIZE)
#define bpf_core_type_matches(type) __builtin_preserve_type_info(*___bpf_typeof(type), BPF_TYPE_MATCHES)
#define bpf_core_enum_value_exists(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_EXISTS)
#define bpf_core_enum_value(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_VALUE)
#define bpf_core_read(dst, sz, src) \
	bpf_probe_read_kernel(dst, sz, (const void *)__builtin_preserve_access_index(src))

char LICENSE[] SEC("license") = "GPL";

#endif
