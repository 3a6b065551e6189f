/* Global data: .data, .rodata (with constants that prune code), .bss and
 * custom .data.* / .rodata.* sections. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_pid = 0;
const volatile int verbose = 1;
const char greeting[] = "hi there";
int data_counter = 7;
__u64 packets;
__u64 bytes_seen;
static int static_var = 3;
int custom_data SEC(".data.custom") = 42;
const volatile int custom_ro SEC(".rodata.custom") = 9;

struct pair { __u32 a; __u16 b; __u8 flag: 1, kind: 3; };
struct pair pair_data = { .a = 1, .b = 2, .flag = 1, .kind = 5 };

SEC("tc")
int count(struct __sk_buff *skb)
{
	packets++;
	bytes_seen += skb->len;
	data_counter += static_var + custom_data + custom_ro;
	if (verbose)
		bpf_printk("%s %u", greeting, target_pid);
	if (target_pid && skb->mark == target_pid)
		return TC_ACT_SHOT;
	pair_data.a += pair_data.kind;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
