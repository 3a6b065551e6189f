/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Constants BCC programs take from kernel headers that are preprocessor
 * macros (so not in BTF, hence not in vmlinux.h), written for pybpf.
 *
 * Included after vmlinux.h: some names (IPPROTO_*, XDP_PASS, BPF_F_*...) are
 * also enumerators there; a macro defined afterwards with the same value
 * changes nothing for vmlinux.h and keeps programs building on kernels whose
 * BTF lacks the enum.
 */
#ifndef __PYBPF_BCC_CONSTS_H
#define __PYBPF_BCC_CONSTS_H

/* ---- <linux/if_ether.h> ---- */
#define ETH_ALEN	6
#define ETH_TLEN	2
#define ETH_HLEN	14
#define ETH_ZLEN	60
#define ETH_DATA_LEN	1500
#define ETH_FRAME_LEN	1514
#define ETH_FCS_LEN	4
#define ETH_P_LOOP	0x0060
#define ETH_P_IP	0x0800
#define ETH_P_ARP	0x0806
#define ETH_P_RARP	0x8035
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88A8
#define ETH_P_IPX	0x8137
#define ETH_P_IPV6	0x86DD
#define ETH_P_MPLS_UC	0x8847
#define ETH_P_MPLS_MC	0x8848
#define ETH_P_PPP_DISC	0x8863
#define ETH_P_PPP_SES	0x8864
#define ETH_P_LLDP	0x88CC
#define ETH_P_TEB	0x6558
#define ETH_P_802_3	0x0001
#define ETH_P_ALL	0x0003
#define ETH_P_802_2	0x0004

/* ---- <linux/if_vlan.h> ---- */
#define VLAN_HLEN	4
#define VLAN_VID_MASK	0x0fff
#define VLAN_PRIO_MASK	0xe000
#define VLAN_PRIO_SHIFT	13

/* ---- <linux/in.h>, <linux/in6.h> ---- */
#define IPPROTO_IP	0
#define IPPROTO_ICMP	1
#define IPPROTO_IGMP	2
#define IPPROTO_IPIP	4
#define IPPROTO_TCP	6
#define IPPROTO_EGP	8
#define IPPROTO_PUP	12
#define IPPROTO_UDP	17
#define IPPROTO_IDP	22
#define IPPROTO_TP	29
#define IPPROTO_DCCP	33
#define IPPROTO_IPV6	41
#define IPPROTO_RSVP	46
#define IPPROTO_GRE	47
#define IPPROTO_ESP	50
#define IPPROTO_AH	51
#define IPPROTO_MTP	92
#define IPPROTO_BEETPH	94
#define IPPROTO_ENCAP	98
#define IPPROTO_PIM	103
#define IPPROTO_COMP	108
#define IPPROTO_L2TP	115
#define IPPROTO_SCTP	132
#define IPPROTO_UDPLITE	136
#define IPPROTO_MPLS	137
#define IPPROTO_ETHERNET 143
#define IPPROTO_RAW	255
#define IPPROTO_MPTCP	262
#define IPPROTO_HOPOPTS	0
#define IPPROTO_ROUTING	43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_ICMPV6	58
#define IPPROTO_NONE	59
#define IPPROTO_DSTOPTS	60
#define IPPROTO_MH	135
#define s6_addr		in6_u.u6_addr8
#define s6_addr16	in6_u.u6_addr16
#define s6_addr32	in6_u.u6_addr32
#define INADDR_ANY	((unsigned int)0x00000000)
#define INADDR_LOOPBACK	((unsigned int)0x7f000001)
#define INET_ADDRSTRLEN		16
#define INET6_ADDRSTRLEN	46

/* ---- <net/ipv6.h> next headers ---- */
#define NEXTHDR_HOP	0
#define NEXTHDR_TCP	6
#define NEXTHDR_UDP	17
#define NEXTHDR_IPV6	41
#define NEXTHDR_ROUTING	43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_GRE	47
#define NEXTHDR_ESP	50
#define NEXTHDR_AUTH	51
#define NEXTHDR_ICMP	58
#define NEXTHDR_NONE	59
#define NEXTHDR_DEST	60

/* ---- <linux/ip.h>, <net/ip.h> ---- */
#define IPTOS_TOS_MASK	0x1E
#define IP_CE		0x8000
#define IP_DF		0x4000
#define IP_MF		0x2000
#define IP_OFFSET	0x1FFF

/* ---- <linux/icmp.h>, <linux/icmpv6.h> ---- */
#define ICMP_ECHOREPLY		0
#define ICMP_DEST_UNREACH	3
#define ICMP_SOURCE_QUENCH	4
#define ICMP_REDIRECT		5
#define ICMP_ECHO		8
#define ICMP_TIME_EXCEEDED	11
#define ICMP_PARAMETERPROB	12
#define ICMP_TIMESTAMP		13
#define ICMP_TIMESTAMPREPLY	14
#define ICMPV6_DEST_UNREACH	1
#define ICMPV6_PKT_TOOBIG	2
#define ICMPV6_TIME_EXCEED	3
#define ICMPV6_PARAMPROB	4
#define ICMPV6_ECHO_REQUEST	128
#define ICMPV6_ECHO_REPLY	129

/* ---- <net/tcp.h> header flags ---- */
#define TCPHDR_FIN 0x01
#define TCPHDR_SYN 0x02
#define TCPHDR_RST 0x04
#define TCPHDR_PSH 0x08
#define TCPHDR_ACK 0x10
#define TCPHDR_URG 0x20
#define TCPHDR_ECE 0x40
#define TCPHDR_CWR 0x80

/* ---- <linux/pkt_cls.h> ---- */
#define TC_ACT_UNSPEC		(-1)
#define TC_ACT_OK		0
#define TC_ACT_RECLASSIFY	1
#define TC_ACT_SHOT		2
#define TC_ACT_PIPE		3
#define TC_ACT_STOLEN		4
#define TC_ACT_QUEUED		5
#define TC_ACT_REPEAT		6
#define TC_ACT_REDIRECT		7
#define TC_ACT_TRAP		8
#define TC_H_MAJ_MASK		(0xFFFF0000U)
#define TC_H_MIN_MASK		(0x0000FFFFU)
#define TC_H_MAJ(h)		((h) & TC_H_MAJ_MASK)
#define TC_H_MIN(h)		((h) & TC_H_MIN_MASK)
#define TC_H_MAKE(maj, min)	(((maj) & TC_H_MAJ_MASK) | ((min) & TC_H_MIN_MASK))
#define TC_H_UNSPEC		(0U)
#define TC_H_ROOT		(0xFFFFFFFFU)
#define TC_H_INGRESS		(0xFFFFFFF1U)
#define TC_H_CLSACT		TC_H_INGRESS
#define TC_H_MIN_INGRESS	0xFFF2U
#define TC_H_MIN_EGRESS		0xFFF3U

/* ---- <linux/bpf.h>: XDP actions and the flags BCC programs pass ---- */
#define XDP_ABORTED	0
#define XDP_DROP	1
#define XDP_PASS	2
#define XDP_TX		3
#define XDP_REDIRECT	4
#define XDP_FLAGS_UPDATE_IF_NOEXIST	(1U << 0)
#define XDP_FLAGS_SKB_MODE		(1U << 1)
#define XDP_FLAGS_DRV_MODE		(1U << 2)
#define XDP_FLAGS_HW_MODE		(1U << 3)
#define XDP_FLAGS_REPLACE		(1U << 4)
#define BPF_ANY		0
#define BPF_NOEXIST	1
#define BPF_EXIST	2
#define BPF_F_LOCK	4
#define BPF_F_NO_PREALLOC	(1U << 0)
#define BPF_F_NO_COMMON_LRU	(1U << 1)
#define BPF_F_NUMA_NODE		(1U << 2)
#define BPF_F_RDONLY		(1U << 3)
#define BPF_F_WRONLY		(1U << 4)
#define BPF_F_STACK_BUILD_ID	(1U << 5)
#define BPF_F_ZERO_SEED		(1U << 6)
#define BPF_F_RDONLY_PROG	(1U << 7)
#define BPF_F_WRONLY_PROG	(1U << 8)
#define BPF_F_MMAPABLE		(1U << 10)
#define BPF_F_SKIP_FIELD_MASK	0xffULL
#define BPF_F_USER_STACK	(1ULL << 8)
#define BPF_F_FAST_STACK_CMP	(1ULL << 9)
#define BPF_F_REUSE_STACKID	(1ULL << 10)
#define BPF_F_USER_BUILD_ID	(1ULL << 11)
#define BPF_F_INDEX_MASK	0xffffffffULL
#define BPF_F_CURRENT_CPU	BPF_F_INDEX_MASK
#define BPF_F_CTXLEN_MASK	(0xfffffULL << 32)
#define BPF_F_INGRESS		(1ULL << 0)
#define BPF_F_RECOMPUTE_CSUM	(1ULL << 0)
#define BPF_F_INVALIDATE_HASH	(1ULL << 1)
#define BPF_F_HDR_FIELD_MASK	0xfULL
#define BPF_F_PSEUDO_HDR	(1ULL << 4)
#define BPF_F_MARK_MANGLED_0	(1ULL << 5)
#define BPF_F_MARK_ENFORCE	(1ULL << 6)
#define BPF_RB_NO_WAKEUP	(1ULL << 0)
#define BPF_RB_FORCE_WAKEUP	(1ULL << 1)

/* ---- <linux/socket.h>, <linux/net.h> ---- */
#define AF_UNSPEC	0
#define AF_UNIX		1
#define AF_LOCAL	1
#define AF_INET		2
#define AF_NETLINK	16
#define AF_PACKET	17
#define AF_INET6	10
#define AF_XDP		44
#define PF_UNSPEC	AF_UNSPEC
#define PF_UNIX		AF_UNIX
#define PF_INET		AF_INET
#define PF_INET6	AF_INET6
#define PF_NETLINK	AF_NETLINK
#define PF_PACKET	AF_PACKET
#define SOCK_STREAM	1
#define SOCK_DGRAM	2
#define SOCK_RAW	3
#define SOCK_SEQPACKET	5
#define SOL_IP		0
#define SOL_SOCKET	1
#define SOL_TCP		6
#define SOL_UDP		17
#define SOL_IPV6	41
#define SCM_RIGHTS	0x01
#define SCM_CREDENTIALS	0x02
#define SCM_SECURITY	0x03
#define IFNAMSIZ	16

/* ---- <linux/sched.h> ---- */
#define TASK_COMM_LEN		16
#define TASK_RUNNING		0x00000000
#define TASK_INTERRUPTIBLE	0x00000001
#define TASK_UNINTERRUPTIBLE	0x00000002
#define __TASK_STOPPED		0x00000004
#define __TASK_TRACED		0x00000008
#define EXIT_DEAD		0x00000010
#define EXIT_ZOMBIE		0x00000020
#define TASK_PARKED		0x00000040
#define TASK_DEAD		0x00000080
#define TASK_WAKEKILL		0x00000100
#define TASK_WAKING		0x00000200
#define TASK_NOLOAD		0x00000400
#define TASK_NEW		0x00000800
#define TASK_KILLABLE		(TASK_WAKEKILL | TASK_UNINTERRUPTIBLE)
#define TASK_STOPPED		(TASK_WAKEKILL | __TASK_STOPPED)
#define TASK_IDLE		(TASK_UNINTERRUPTIBLE | TASK_NOLOAD)
#define PF_IDLE			0x00000002
#define PF_EXITING		0x00000004
#define PF_FORKNOEXEC		0x00000040
#define PF_SUPERPRIV		0x00000100
#define PF_KTHREAD		0x00200000
#define CLONE_VM		0x00000100
#define CLONE_FS		0x00000200
#define CLONE_FILES		0x00000400
#define CLONE_SIGHAND		0x00000800
#define CLONE_PIDFD		0x00001000
#define CLONE_PTRACE		0x00002000
#define CLONE_VFORK		0x00004000
#define CLONE_PARENT		0x00008000
#define CLONE_THREAD		0x00010000
#define CLONE_NEWNS		0x00020000
#define CLONE_NEWCGROUP		0x02000000
#define CLONE_NEWUTS		0x04000000
#define CLONE_NEWIPC		0x08000000
#define CLONE_NEWUSER		0x10000000
#define CLONE_NEWPID		0x20000000
#define CLONE_NEWNET		0x40000000

/* ---- <linux/fs.h>, <linux/stat.h>, <linux/fcntl.h>, <linux/limits.h> ---- */
#define NAME_MAX	255
#define PATH_MAX	4096
#define S_IFMT		00170000
#define S_IFSOCK	0140000
#define S_IFLNK		0120000
#define S_IFREG		0100000
#define S_IFBLK		0060000
#define S_IFDIR		0040000
#define S_IFCHR		0020000
#define S_IFIFO		0010000
#define S_ISLNK(m)	(((m) & S_IFMT) == S_IFLNK)
#define S_ISREG(m)	(((m) & S_IFMT) == S_IFREG)
#define S_ISDIR(m)	(((m) & S_IFMT) == S_IFDIR)
#define S_ISCHR(m)	(((m) & S_IFMT) == S_IFCHR)
#define S_ISBLK(m)	(((m) & S_IFMT) == S_IFBLK)
#define S_ISFIFO(m)	(((m) & S_IFMT) == S_IFIFO)
#define S_ISSOCK(m)	(((m) & S_IFMT) == S_IFSOCK)
#define O_ACCMODE	00000003
#define O_RDONLY	00000000
#define O_WRONLY	00000001
#define O_RDWR		00000002
#define O_CREAT		00000100
#define O_EXCL		00000200
#define O_NOCTTY	00000400
#define O_TRUNC		00001000
#define O_APPEND	00002000
#define O_NONBLOCK	00004000
#define O_DSYNC		00010000
#define O_DIRECT	00040000
#define O_LARGEFILE	00100000
#define O_DIRECTORY	00200000
#define O_NOFOLLOW	00400000
#define O_CLOEXEC	02000000
#define O_NOATIME	01000000
#define O_PATH		010000000
#define __O_SYNC	04000000
#define O_SYNC		(__O_SYNC | O_DSYNC)
#define __O_TMPFILE	020000000
#define O_TMPFILE	(__O_TMPFILE | O_DIRECTORY)
#define O_NDELAY	O_NONBLOCK
#define FASYNC		00020000
#define FMODE_READ	0x1
#define FMODE_WRITE	0x2
#define FMODE_EXEC	0x20
#define FMODE_CREATED	0x100000

/* <asm/page.h>'s PAGE_SIZE & co. are in bcc_arch.h */

/* ---- <linux/minmax.h>, <linux/math64.h> (typed forms; min()/max() come with <linux/kernel.h>) ---- */
#define min_t(type, x, y) ({ type __pybpf_x = (x); type __pybpf_y = (y); __pybpf_x < __pybpf_y ? __pybpf_x : __pybpf_y; })
#define max_t(type, x, y) ({ type __pybpf_x = (x); type __pybpf_y = (y); __pybpf_x > __pybpf_y ? __pybpf_x : __pybpf_y; })
#define clamp_t(type, v, lo, hi) min_t(type, max_t(type, v, lo), hi)
#define div_u64(dividend, divisor) ((__u64)(dividend) / (__u32)(divisor))
#define div64_u64(dividend, divisor) ((__u64)(dividend) / (__u64)(divisor))

/* ---- <linux/time64.h>, <vdso/time64.h> ---- */
#define MSEC_PER_SEC	1000L
#define USEC_PER_MSEC	1000L
#define NSEC_PER_USEC	1000L
#define NSEC_PER_MSEC	1000000L
#define USEC_PER_SEC	1000000L
#define NSEC_PER_SEC	1000000000L

/* ---- <linux/blkdev.h>, <linux/blk_types.h> (the REQ_OP_* and __REQ_* values are
 * enumerators of the kernel's BTF, in vmlinux.h) ---- */
#define DISK_NAME_LEN	32
#define REQ_OP_BITS	8
#define REQ_OP_MASK	((1 << REQ_OP_BITS) - 1)
#define REQ_FAILFAST_DEV	(1ULL << __REQ_FAILFAST_DEV)
#define REQ_FAILFAST_TRANSPORT	(1ULL << __REQ_FAILFAST_TRANSPORT)
#define REQ_FAILFAST_DRIVER	(1ULL << __REQ_FAILFAST_DRIVER)
#define REQ_SYNC	(1ULL << __REQ_SYNC)
#define REQ_META	(1ULL << __REQ_META)
#define REQ_PRIO	(1ULL << __REQ_PRIO)
#define REQ_NOMERGE	(1ULL << __REQ_NOMERGE)
#define REQ_IDLE	(1ULL << __REQ_IDLE)
#define REQ_INTEGRITY	(1ULL << __REQ_INTEGRITY)
#define REQ_FUA		(1ULL << __REQ_FUA)
#define REQ_PREFLUSH	(1ULL << __REQ_PREFLUSH)
#define REQ_RAHEAD	(1ULL << __REQ_RAHEAD)
#define REQ_BACKGROUND	(1ULL << __REQ_BACKGROUND)
#define REQ_NOWAIT	(1ULL << __REQ_NOWAIT)

/* ---- <linux/perf_event.h> ---- */
#define PERF_MAX_STACK_DEPTH	127

/* ---- <asm-generic/errno-base.h>, <asm-generic/errno.h>, <linux/errno.h> ---- */
#define EPERM		1
#define ENOENT		2
#define ESRCH		3
#define EINTR		4
#define EIO		5
#define ENXIO		6
#define E2BIG		7
#define ENOEXEC		8
#define EBADF		9
#define ECHILD		10
#define EAGAIN		11
#define ENOMEM		12
#define EACCES		13
#define EFAULT		14
#define EBUSY		16
#define EEXIST		17
#define EXDEV		18
#define ENODEV		19
#define ENOTDIR		20
#define EISDIR		21
#define EINVAL		22
#define ENFILE		23
#define EMFILE		24
#define ENOTTY		25
#define EFBIG		27
#define ENOSPC		28
#define ESPIPE		29
#define EROFS		30
#define EMLINK		31
#define EPIPE		32
#define EDOM		33
#define ERANGE		34
#define EDEADLK		35
#define ENAMETOOLONG	36
#define ENOSYS		38
#define ENOTEMPTY	39
#define ELOOP		40
#define ENODATA		61
#define ETIME		62
#define EPROTO		71
#define EBADMSG		74
#define EOVERFLOW	75
#define ENOTSOCK	88
#define EMSGSIZE	90
#define EPROTONOSUPPORT	93
#define EOPNOTSUPP	95
#define EAFNOSUPPORT	97
#define EADDRINUSE	98
#define EADDRNOTAVAIL	99
#define ENETDOWN	100
#define ENETUNREACH	101
#define ECONNABORTED	103
#define ECONNRESET	104
#define ENOBUFS		105
#define EISCONN		106
#define ENOTCONN	107
#define ETIMEDOUT	110
#define ECONNREFUSED	111
#define EHOSTUNREACH	113
#define EALREADY	114
#define EINPROGRESS	115
#define ENOTSUPP	524
#define MAX_ERRNO	4095
#define IS_ERR_VALUE(x)	((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)

/* ---- byte order (<linux/byteorder/...>, <arpa/inet.h>) ---- */
#ifndef htons
#define htons(x) bpf_htons(x)
#endif
#ifndef ntohs
#define ntohs(x) bpf_ntohs(x)
#endif
#ifndef htonl
#define htonl(x) bpf_htonl(x)
#endif
#ifndef ntohl
#define ntohl(x) bpf_ntohl(x)
#endif

#endif /* __PYBPF_BCC_CONSTS_H */
