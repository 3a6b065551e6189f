// SPDX-License-Identifier: Apache-2.0
/* Exercises the header API surface: CO-RE queries and reads at every depth,
 * bitfields, byte order, printk variants, iterators, tail calls, BPF_PROG2,
 * arg annotations and kconfig/ksym externs (kprobe, kretprobe and XDP programs;
 * the BTF-typed program kinds are in features_btf.bpf.c). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

_Static_assert(___bpf_swab16(0x1234) == 0x3412, "swab16");
_Static_assert(___bpf_swab32(0x12345678) == 0x78563412, "swab32");
_Static_assert(___bpf_swab64(0x0102030405060708ULL) == 0x0807060504030201ULL, "swab64");
_Static_assert(bpf_htons(0x0800) == 0x0008, "htons constant folds");
_Static_assert(bpf_ntohl(0x01000000) == 1, "ntohl constant folds");
_Static_assert(bpf_cpu_to_be64(1) == 0x0100000000000000ULL, "cpu_to_be64");
_Static_assert(___bpf_narg() == 0 && ___bpf_narg(a, b, c) == 3, "narg");
_Static_assert(KERNEL_VERSION(6, 18, 300) == ((6 << 16) + (18 << 8) + 255), "KERNEL_VERSION");

extern int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig __weak;
extern const void bpf_prog_active __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u32);
} jmp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, u64);
	__uint(pinning, LIBBPF_PIN_NONE);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__type(value, u32);
	__uint(map_extra, 3);
} bloom SEC(".maps");

/* "flavor" of a kernel type: only the fields used, matched by CO-RE */
struct task_struct___lite {
	int pid;
	int tgid;
	int no_such_field;
} __attribute__((preserve_access_index));

static __noinline int sub(int x)
{
	return x * 2;
}

__hidden int global_sub(struct pt_regs *ctx __arg_ctx, int v)
{
	return v + 1;
}

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(core_reads, void *t, int mode)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___lite *lite = (void *)task;
	char comm[16], name[16];
	int zero = 0;
	u64 *cnt;
	long ppid, pppid, d3, d4, d9;
	unsigned long flags;
	int i, sum = 0;

	ppid = BPF_CORE_READ(task, real_parent, tgid);
	pppid = BPF_CORE_READ(task, real_parent, real_parent, real_parent, tgid);
	d3 = BPF_CORE_READ(task, mm, exe_file, f_inode, i_ino);
	d4 = BPF_CORE_READ(task, mm, exe_file, f_path.dentry, d_inode, i_ino);
	d9 = BPF_CORE_READ(task, real_parent, real_parent, real_parent, real_parent, real_parent,
			   real_parent, real_parent, real_parent, pid);
	BPF_CORE_READ_INTO(&flags, task, mm, def_flags);
	BPF_CORE_READ_STR_INTO(&comm, task, group_leader, comm);
	bpf_core_read_str(&name, sizeof(name), &task->comm);
	bpf_printk("ppid %ld pppid %ld ino %ld %ld %ld %lu", ppid, pppid, d3, d4, d9, flags);

	if (bpf_core_field_exists(lite->no_such_field))
		bpf_printk("impossible");
	if (bpf_core_field_exists(struct task_struct, pid) && bpf_core_field_size(task->pid) == 4)
		bpf_printk("pid at offset %d signed %d", bpf_core_field_offset(struct task_struct, pid),
			   bpf_core_field_signed(task->pid));
	if (bpf_core_type_exists(struct task_struct) && bpf_core_type_matches(struct task_struct___lite))
		bpf_printk("type size %d", bpf_core_type_size(struct task_struct));
	if (bpf_core_enum_value_exists(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF))
		bpf_printk("ringbuf = %d", bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF));
	bpf_printk("type ids %d %d", bpf_core_type_id_local(struct task_struct),
		   bpf_core_type_id_kernel(struct task_struct));
	bpf_printk("bitfield %llu / %llu", BPF_CORE_READ_BITFIELD_PROBED(task, in_execve),
		   BPF_CORE_READ_BITFIELD_PROBED(task, sched_reset_on_fork));
	bpf_printk("regs %lx %lx %lx", PT_REGS_IP(ctx), PT_REGS_SP(ctx), PT_REGS_PARM3_CORE(ctx));
	bpf_printk("kernel %x, syscall %d, ksym %d, comm %s", LINUX_KERNEL_VERSION,
		   CONFIG_BPF_SYSCALL, bpf_ksym_exists(&bpf_prog_active), comm);

	bpf_for(i, 0, 10)
		sum += sub(i);
	bpf_repeat(3)
		sum++;
	cnt = bpf_map_lookup_elem(&counts, &zero);
	if (likely(cnt != NULL))
		__sync_fetch_and_add(cnt, sum + global_sub(ctx, mode));
	barrier_var(sum);
	bpf_tail_call_static(ctx, &jmp, 2);
	return 0;
}

SEC("kretprobe/do_nanosleep")
int BPF_KRETPROBE(ret_probe, long rc)
{
	unsigned long ip = 0;

	BPF_KRETPROBE_READ_RET_IP(ip, ctx);
	bpf_printk("rc %ld ip %lx", rc, ip);
	return 0;
}

SEC("xdp")
int endian(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	char buf[32];

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	switch (eth->h_proto) {
	case bpf_htons(0x0800):
		return XDP_PASS;
	case bpf_htons(0x86DD):
		BPF_SNPRINTF(buf, sizeof(buf), "v6 %d %d", 1, 2);
		bpf_printk("%s %d %d %d %d", buf, 1, 2, 3, 4);
		return XDP_PASS;
	default:
		return bpf_ntohl(bpf_htonl(XDP_PASS));
	}
}
