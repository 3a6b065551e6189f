/* __kconfig and __ksym externs (untyped symbol, weak typed variable, kfuncs,
 * weak and virtual kconfig values). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>


extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig __weak;
extern int CONFIG_PYBPF_DOES_NOT_EXIST __kconfig __weak;

extern const void bpf_prog_put __ksym;
extern const int pybpf_no_such_var __ksym __weak;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

__u64 seen_version, prog_put_addr;
int seen_hz, seen_syscall, seen_jit, seen_missing, seen_cookie, active;

SEC("raw_tp/sys_enter")
int externs(void *ctx)
{
	bpf_rcu_read_lock();
	seen_version = LINUX_KERNEL_VERSION;
	seen_hz = CONFIG_HZ;
	seen_syscall = CONFIG_BPF_SYSCALL;
	seen_jit = CONFIG_BPF_JIT;
	seen_missing = CONFIG_PYBPF_DOES_NOT_EXIST;
	seen_cookie = LINUX_HAS_BPF_COOKIE;
	prog_put_addr = (__u64)&bpf_prog_put;
	if (&pybpf_no_such_var)
		active += 10;
	bpf_rcu_read_unlock();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
