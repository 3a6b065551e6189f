/* libbpf quirk reproduced on purpose: a 32-bit unsigned enumerator >= 2^31 is expected
 * sign-extended (struct btf_enum.val is __s32), but clang emits it zero-extended, so
 * libbpf (and pybpf) refuse the relocation with "unexpected insn value". */
#include "core.h"

enum init_ns_ino { IPC_NS_INIT_INO = 0xEFFFFFFFU };

__u64 out[2];

SEC("kprobe/quirk")
int quirk(void *ctx)
{
	out[0] = bpf_core_enum_value(enum init_ns_ino, IPC_NS_INIT_INO);
	return 0;
}
