/* Maps of maps with inner map definitions and static initialisation. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner inner_a SEC(".maps");
struct inner inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { &inner_a, &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 16);
		__type(key, __u32);
		__type(value, __u32);
	});
} outer_hash SEC(".maps");

SEC("socket")
int lookup(struct __sk_buff *skb)
{
	__u32 key = skb->len & 1, zero = 0;
	void *in = bpf_map_lookup_elem(&outer, &key);
	__u64 *v;

	if (!in)
		return 0;
	v = bpf_map_lookup_elem(in, &zero);
	if (v)
		(*v)++;
	in = bpf_map_lookup_elem(&outer_hash, &key);
	if (in)
		bpf_map_update_elem(in, &zero, &zero, BPF_ANY);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
