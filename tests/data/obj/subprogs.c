/* Static and global subprograms shared by several entry programs, called in
 * different orders (libbpf appends them depth-first per entry program). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __noinline int bump(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
	return idx;
}

static __noinline int leaf(int x)
{
	return x * 3 + 1;
}

__noinline int global_add(int a, int b)
{
	return a + b + bump(2);
}

__attribute__((visibility("hidden"))) __noinline int hidden_mul(int a)
{
	return leaf(a) * 2;
}

static __noinline int middle(int x)
{
	return leaf(x) + bump(1);
}

SEC("socket")
int first(struct __sk_buff *skb)
{
	return middle(skb->len) + global_add(1, 2);
}

SEC("socket")
int second(struct __sk_buff *skb)
{
	return global_add(skb->len, 3) + hidden_mul(4) + middle(5);
}

SEC("xdp")
int third(struct xdp_md *ctx)
{
	return leaf(ctx->ingress_ifindex) > 1000 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
