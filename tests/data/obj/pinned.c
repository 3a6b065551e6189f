/* A map pinned by name (LIBBPF_PIN_BY_NAME) with a typed struct value. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct stats {
	__u64 packets;
	__u32 last_len;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, struct stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pinned_stats SEC(".maps");

SEC("socket")
int account(struct __sk_buff *skb)
{
	__u32 key = skb->protocol;
	struct stats *s = bpf_map_lookup_elem(&pinned_stats, &key);

	if (s) {
		s->packets++;
		s->last_len = skb->len;
	} else {
		struct stats n = { 1, skb->len };
		bpf_map_update_elem(&pinned_stats, &key, &n, BPF_ANY);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
