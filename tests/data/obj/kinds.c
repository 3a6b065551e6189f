/* One program per SEC() kind that loads on a recent kernel. Compile with
 * -DKIND_<NAME> to get one object per kind (or -DKIND_ALL for all of them). */
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "mini_vmlinux.h"

#define K(x) (defined(KIND_ALL) || defined(KIND_##x))

__u64 calls;

#if K(SOCKET)
SEC("socket")
int k_socket(struct __sk_buff *skb) { calls++; return skb->len; }
#endif

#if K(XDP)
SEC("xdp")
int k_xdp(struct xdp_md *ctx) { calls++; return XDP_PASS; }
#endif

#if K(TC)
SEC("tc")
int k_tc(struct __sk_buff *skb) { calls++; skb->mark = 1; return TC_ACT_OK; }
#endif

#if K(TRACEPOINT)
SEC("tracepoint/syscalls/sys_enter_getpid")
int k_tracepoint(void *ctx) { calls++; return 0; }
#endif

#if K(RAW_TP)
SEC("raw_tp/sys_enter")
int k_raw_tp(struct bpf_raw_tracepoint_args *ctx) { calls += ctx->args[1]; return 0; }
#endif

#if K(TP_BTF)
SEC("tp_btf/sched_process_exit")
int BPF_PROG(k_tp_btf, struct task_struct *p) { calls += p->pid; return 0; }
#endif

#if K(ITER)
SEC("iter/task")
int k_iter(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (task)
		BPF_SEQ_PRINTF(seq, "%d\n", task->pid);
	return 0;
}
#endif

#if K(PERF_EVENT)
SEC("perf_event")
int k_perf_event(void *ctx) { calls++; return 0; }
#endif

#if K(SYSCALL)
SEC("syscall")
int k_syscall(void *ctx) { calls++; return 0; }
#endif

#if K(CGROUP_SKB)
SEC("cgroup_skb/ingress")
int k_cgroup_skb(struct __sk_buff *skb) { calls++; return 1; }
#endif

#if K(CONNECT4)
SEC("cgroup/connect4")
int k_connect4(struct bpf_sock_addr *ctx) { calls += ctx->user_port; return 1; }
#endif

#if K(SOCKOPS)
SEC("sockops")
int k_sockops(struct bpf_sock_ops *ctx) { calls += ctx->op; return 1; }
#endif

#if K(SK_SKB)
SEC("sk_skb/stream_verdict")
int k_sk_skb(struct __sk_buff *skb) { calls++; return SK_PASS; }
#endif

#if K(SK_MSG)
SEC("sk_msg")
int k_sk_msg(struct sk_msg_md *msg) { calls += msg->size; return SK_PASS; }
#endif

#if K(FLOW_DISSECTOR)
SEC("flow_dissector")
int k_flow_dissector(struct __sk_buff *skb) { calls++; return BPF_OK; }
#endif

#if K(SK_LOOKUP)
SEC("sk_lookup")
int k_sk_lookup(struct bpf_sk_lookup *ctx) { calls += ctx->local_port; return SK_PASS; }
#endif

#if K(UPROBE)
SEC("uprobe/usr/bin/true:main")
int k_uprobe(struct pt_regs *ctx) { calls += PT_REGS_PARM1(ctx); return 0; }
#endif

char LICENSE[] SEC("license") = "GPL";
