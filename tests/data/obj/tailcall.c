/* Tail calls through a prog array initialised statically in .maps. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int hits[3];

SEC("xdp")
int step_a(struct xdp_md *ctx)
{
	hits[0]++;
	return XDP_PASS;
}

SEC("xdp")
int step_b(struct xdp_md *ctx)
{
	hits[1]++;
	return XDP_DROP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} jump_table SEC(".maps") = {
	.values = {
		[0] = (void *)&step_a,
		[2] = (void *)&step_b,
	},
};

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	hits[2]++;
	bpf_tail_call(ctx, &jump_table, ctx->rx_queue_index ? 2 : 0);
	return XDP_ABORTED;
}

char LICENSE[] SEC("license") = "GPL";
