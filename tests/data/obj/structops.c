/* struct_ops variables for the ELF-layer and loader tests (no vmlinux.h).
 *
 * The local struct tcp_congestion_ops has the kernel's member names in another order,
 * a subset of them, and one member the kernel lacks (pybpf_extra, zero): the loader
 * translates member by member, by name. so_off (in "?.struct_ops") is not created by
 * default; so_nosuch and so_badsize exist for the error paths.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct sock;

struct tcp_congestion_ops {
	char name[16];
	__u32 flags;
	void (*init)(struct sock *sk);
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	__u32 pybpf_extra;
};

struct tcp_congestion_ops___badsize {
	__u64 flags;
	__u32 (*ssthresh)(struct sock *sk);
};

struct pybpf_no_such_ops {
	__u32 (*ssthresh)(struct sock *sk);
};

int init_calls = 0;

SEC("struct_ops/init")
void so_init(unsigned long long *ctx)
{
	__sync_fetch_and_add(&init_calls, 1);
}

SEC("struct_ops")
__u32 so_ssthresh(unsigned long long *ctx)
{
	return 10;
}

SEC("struct_ops")
void so_cong_avoid(unsigned long long *ctx)
{
}

SEC("struct_ops")
__u32 so_undo_cwnd(unsigned long long *ctx)
{
	return 10;
}

SEC("struct_ops.s")
__u32 so_ssthresh_sleepable(unsigned long long *ctx)
{
	return 2;
}

SEC("?struct_ops")
__u32 so_unused(unsigned long long *ctx)
{
	return 1;
}

SEC(".struct_ops")
struct tcp_congestion_ops so_plain = {
	.init = (void *)so_init,
	.ssthresh = (void *)so_ssthresh,
	.cong_avoid = (void *)so_cong_avoid,
	.undo_cwnd = (void *)so_undo_cwnd,
	.name = "pybpf_so",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops so_link = {
	.init = (void *)so_init,
	.ssthresh = (void *)so_ssthresh,
	.cong_avoid = (void *)so_cong_avoid,
	.undo_cwnd = (void *)so_undo_cwnd,
	.name = "pybpf_so_link",
};

SEC("?.struct_ops")
struct tcp_congestion_ops so_off = {
	.ssthresh = (void *)so_ssthresh_sleepable,
	.cong_avoid = (void *)so_cong_avoid,
	.undo_cwnd = (void *)so_undo_cwnd,
	.name = "pybpf_so_off",
};

SEC("?.struct_ops")
struct pybpf_no_such_ops so_nosuch = {
	.ssthresh = (void *)so_ssthresh,
};

SEC("?.struct_ops")
struct tcp_congestion_ops___badsize so_badsize = {
	.flags = 1,
	.ssthresh = (void *)so_ssthresh,
};

char LICENSE[] SEC("license") = "GPL";
