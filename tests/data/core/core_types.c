/* CO-RE type-based and enum relocations against the running kernel's BTF. */
#include "core.h"

typedef int pid_t;
typedef long pid_t___wrong;   /* kernel pid_t is int: exists, but doesn't match */

struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

/* exact subset of the kernel's struct: matches */
struct list_head {
	struct list_head *next;
	struct list_head *prev;
};

/* same name, wrong member type: doesn't match (but exists) */
struct list_head___bad {
	struct list_head *next;
	int prev;
};

struct no_such_struct_in_any_kernel {
	int x;
};

union bpf_attr___empty {
};

enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_HASH = 11,          /* wrong on purpose: relocated to 1 */
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_NO_SUCH_VALUE = 1000,
};

enum bpf_map_type___new {
	BPF_MAP_TYPE_RINGBUF___new = 100,
};

enum perf_callchain_context {
	PERF_CONTEXT_HV = 0xffffffffffffffe0ULL,
	PERF_CONTEXT_KERNEL = 0xffffffffffffff00ULL,   /* kernel: -128 as u64 */
	PERF_CONTEXT_NO_SUCH = 0xffffffffffff0000ULL,
};

enum no_such_enum_in_any_kernel {
	NO_SUCH_ENUMERATOR = 5,
};

__u64 out[64];

SEC("kprobe/types")
int types(void *ctx)
{
	out[0] = bpf_core_type_exists(struct task_struct);
	out[1] = bpf_core_type_exists(struct no_such_struct_in_any_kernel);
	out[2] = bpf_core_type_size(struct task_struct);
	out[3] = bpf_core_type_size(struct no_such_struct_in_any_kernel);
	out[4] = bpf_core_type_id_local(struct task_struct);
	out[5] = bpf_core_type_id_kernel(struct task_struct);
	out[6] = bpf_core_type_exists(pid_t);
	out[7] = bpf_core_type_size(pid_t);
	out[8] = bpf_core_type_matches(pid_t);
	out[9] = bpf_core_type_matches(pid_t___wrong);
	out[10] = bpf_core_type_exists(pid_t___wrong);
	out[11] = bpf_core_type_matches(struct list_head);
	out[12] = bpf_core_type_matches(struct list_head___bad);
	out[13] = bpf_core_type_matches(struct no_such_struct_in_any_kernel);
	out[14] = bpf_core_type_matches(enum bpf_map_type);
	out[15] = bpf_core_type_size(union bpf_attr___empty);
	out[16] = bpf_core_type_id_kernel(struct no_such_struct_in_any_kernel);
	out[17] = bpf_core_type_matches(struct task_struct);
	return 0;
}

SEC("kprobe/enums")
int enums(void *ctx)
{
	out[0] = bpf_core_enum_value_exists(enum bpf_map_type, BPF_MAP_TYPE_HASH);
	out[1] = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_HASH);
	out[2] = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_ARRAY);
	out[3] = bpf_core_enum_value_exists(enum bpf_map_type, BPF_MAP_TYPE_NO_SUCH_VALUE);
	out[4] = bpf_core_enum_value_exists(enum bpf_map_type___new, BPF_MAP_TYPE_RINGBUF___new);
	out[5] = bpf_core_enum_value(enum bpf_map_type___new, BPF_MAP_TYPE_RINGBUF___new);
	out[6] = bpf_core_enum_value_exists(enum no_such_enum_in_any_kernel, NO_SUCH_ENUMERATOR);
	out[7] = bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_KERNEL);
	out[8] = bpf_core_enum_value_exists(enum perf_callchain_context, PERF_CONTEXT_NO_SUCH);
	if (bpf_core_enum_value_exists(enum bpf_map_type, BPF_MAP_TYPE_NO_SUCH_VALUE))
		out[9] = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_NO_SUCH_VALUE);
	if (bpf_core_enum_value_exists(enum perf_callchain_context, PERF_CONTEXT_NO_SUCH))
		out[10] = bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_NO_SUCH);
	if (bpf_core_enum_value_exists(enum no_such_enum_in_any_kernel, NO_SUCH_ENUMERATOR))
		out[11] = bpf_core_enum_value(enum no_such_enum_in_any_kernel, NO_SUCH_ENUMERATOR);
	return 0;
}
