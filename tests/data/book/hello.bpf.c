/* "Learning eBPF", chapter 3: hello.bpf.c -- an XDP program that traces a
 * greeting with a global counter and counts the packets it sees. */
#include "book.h"

int counter = 0;

SEC("xdp")
int hello(struct xdp_md *ctx)
{
	bpf_printk("Hello World %d", counter);
	counter++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
