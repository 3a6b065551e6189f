// SPDX-License-Identifier: Apache-2.0
/* USDT handler with typed arguments read through the spec table. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>

SEC("usdt")
int BPF_USDT(on_probe, int count, const char *what, long size)
{
	char buf[16];
	long cookie = bpf_usdt_cookie(ctx);
	int n = bpf_usdt_arg_cnt(ctx), sz = bpf_usdt_arg_size(ctx, 2);

	bpf_probe_read_user_str(buf, sizeof(buf), what);
	bpf_printk("usdt %d %s %ld", count, buf, size);
	bpf_printk("cookie %ld args %d size %d", cookie, n, sz);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
