// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Chapter 6: the verifier.
 *
 * Compiled as is, this XDP program is correct: it parses the packet with
 * bounds checks, looks up a per-protocol message in a map (checking for
 * NULL), counts packets in a global array and returns a verdict.
 *
 * Each -D flag plants one of the mistakes chapter 6 walks through, and the
 * verifier rejects the program with the message shown:
 *
 *   -DNO_NULL_CHECK     use a map lookup result without checking it for NULL
 *                       -> "invalid mem access 'map_value_or_null'"
 *   -DOUT_OF_BOUNDS     read one byte past the end of a map value (<= vs <)
 *                       -> "invalid access to map value, value_size=12 off=12 size=1",
 *                          "R6 min value is outside of the allowed memory range"
 *   -DGLOBAL_OOB        index a global array with an unchecked value
 *                       -> "invalid access to map value, value_size=2048 off=4080 size=8",
 *                          "R2 max value is outside of the allowed memory range"
 *   -DNO_PACKET_CHECK   read the Ethernet header without comparing against data_end
 *                       -> "invalid access to packet, off=12 size=2",
 *                          "R1 offset is outside of the packet"
 *   -DNO_RETURN_VALUE   exit without setting R0 (the return value)
 *                       -> "R0 !read_ok"
 *   -DINFINITE_LOOP     a loop whose exit the verifier can never prove
 *                       -> "infinite loop detected"
 *   -DWRONG_HELPER      call a helper XDP programs may not use (bpf_override_return,
 *                       which is for kprobes)
 *                       -> "program of this type cannot use helper bpf_override_return#58"
 *   -DNOT_GPL           a non-GPL license calling a GPL-only helper (bpf_trace_printk)
 *                       -> "cannot call GPL-restricted function from non-GPL compatible program"
 *   -DUNRELEASED_REF    reserve ring buffer space and never submit or discard it
 *                       -> "BPF_EXIT instruction in main prog would lead to reference leak"
 *                          (before Linux 6.x: "Unreleased reference id=N")
 *   -DCTX_WRITE         write to a read-only field of the context (xdp_md->data)
 *                       -> "invalid bpf_context access"
 *
 * (Reading uninitialised stack, another classic, is allowed for root since
 * Linux 5.x, so it is not among the examples.)
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define MESSAGE_LEN 12

#ifndef __naked
#define __naked __attribute__((naked))
#endif

struct msg_t {
	char message[MESSAGE_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct msg_t);
} my_config SEC(".maps");

__u64 counts[256] = {};

#ifdef NO_RETURN_VALUE
/* The compiler always sets a return value, so this one is written in BPF assembly. */
SEC("xdp")
__naked int hello(void)
{
	asm volatile("exit");
}
#else
SEC("xdp")
int hello(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *pkt = data;
	__u32 proto = 0;
	struct msg_t *p;
	int sum = 0;

#ifdef NO_PACKET_CHECK
	if (*(__u16 *)(pkt + 12) != bpf_htons(ETH_P_IP))
		return XDP_PASS;
#else
	if (data + ETH_HLEN + 20 > data_end)
		return XDP_PASS;
	if (*(__u16 *)(pkt + 12) != bpf_htons(ETH_P_IP))
		return XDP_PASS;
#endif
	proto = pkt[ETH_HLEN + 9];

#ifdef GLOBAL_OOB
	counts[pkt[ETH_HLEN + 8] + proto]++;	/* TTL + protocol: up to 510 */
#else
	counts[proto & 0xff]++;
#endif

	p = bpf_map_lookup_elem(&my_config, &proto);
#ifdef NO_NULL_CHECK
	sum = p->message[0];
#else
	if (!p)
		return XDP_PASS;
#endif

#ifdef OUT_OF_BOUNDS
	for (int i = 0; i <= MESSAGE_LEN; i++)
#else
	for (int i = 0; i < MESSAGE_LEN; i++)
#endif
		sum += p->message[i];

#ifdef INFINITE_LOOP
	for (;;) {
		if (bpf_get_prandom_u32() == 0xc0ffee)
			break;
	}
#endif

#ifdef WRONG_HELPER
	bpf_override_return((void *)ctx, 0);
#endif

	{
		__u32 *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);

		if (rec) {
			*rec = proto;
#ifndef UNRELEASED_REF
			bpf_ringbuf_submit(rec, 0);
#endif
		}
	}

#ifdef CTX_WRITE
	ctx->data = 0;
#endif

	bpf_printk("protocol %d: %s (%d)", proto, p->message, sum);
	return XDP_PASS;
}
#endif

#ifdef NOT_GPL
char LICENSE[] SEC("license") = "Proprietary";
#else
char LICENSE[] SEC("license") = "Dual BSD/GPL";
#endif
