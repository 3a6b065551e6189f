/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pybpf.bcc: <bcc/proto.h> -- packet header structs and cursor_advance().
 *
 * Written for pybpf after BCC's interface (same struct and field names).
 * BCC's compiler turns loads of these fields into byte-swapping packet
 * loads; pybpf does not rewrite loads, so here the structs are the wire
 * layout on a little-endian machine and multi-byte fields hold network byte
 * order: compare with bpf_htons()/bpf_htonl() constants or convert with
 * bpf_ntohs()/bpf_ntohl().  Sub-byte fields (ip_t.ver/hlen, tcp_t.offset,
 * ip6_t.ver) read correctly as they are.
 *
 * Use them over direct packet access (XDP, tc): check the bounds against
 * data_end before every read, as the verifier requires.
 */
#ifndef __PYBPF_BCC_PROTO_H
#define __PYBPF_BCC_PROTO_H
#include <bcc_compat.h>

#define BPF_PACKET_HEADER __attribute__((packed))

/* Returns the current position and moves the cursor by len bytes. */
#define cursor_advance(_cursor, _len) \
	({ void *_tmp = (_cursor); (_cursor) += (_len); _tmp; })

struct ethernet_t {
	u8 dst[6];
	u8 src[6];
	u16 type;	/* network order: bpf_ntohs(eth->type) == ETH_P_IP */
} __attribute__((packed));

struct dot1q_t {
	u16 tci;	/* priority:3, cfi:1, vlanid:12 (network order) */
	u16 type;
} __attribute__((packed));

struct arp_t {
	u16 htype;
	u16 ptype;
	u8 hlen;
	u8 plen;
	u16 oper;
	u8 sha[6];
	u32 spa;
	u8 tha[6];
	u32 tpa;
} __attribute__((packed));

struct ip_t {
	u8 hlen:4;	/* header length in 32-bit words */
	u8 ver:4;
	u8 tos;
	u16 tlen;
	u16 identification;
	u16 frag;	/* flags:3, fragment offset:13 (network order) */
	u8 ttl;
	u8 nextp;
	u16 hchecksum;
	u32 src;
	u32 dst;
} __attribute__((packed));

struct ip6_t {
	u8 priority_hi:4;
	u8 ver:4;
	u8 flow_label[3];
	u16 payload_len;
	u8 next_header;
	u8 hop_limit;
	u8 src[16];
	u8 dst[16];
} __attribute__((packed));

struct ip6_opt_t {
	u8 next_header;
	u8 ext_len;
	u8 pad[6];
} __attribute__((packed));

struct icmp_t {
	u8 type;
	u8 code;
	u16 checksum;
} __attribute__((packed));

struct udp_t {
	u16 sport;
	u16 dport;
	u16 length;
	u16 crc;
} __attribute__((packed));

struct tcp_t {
	u16 src_port;
	u16 dst_port;
	u32 seq_num;
	u32 ack_num;
	u8 reserved:4;
	u8 offset:4;	/* header length in 32-bit words */
	u8 flags;	/* TCPHDR_FIN, TCPHDR_SYN, ... */
	u16 rcv_wnd;
	u16 cksum;
	u16 urg_ptr;
} __attribute__((packed));

struct vxlan_t {
	u8 flags;
	u8 rsv1[3];
	u8 key[3];	/* the VNI */
	u8 rsv2;
} __attribute__((packed));

struct vxlan_gbp_t {
	u8 flags;
	u8 gbp_flags;
	u16 tag;
	u8 key[3];
	u8 rsv2;
} __attribute__((packed));

#endif /* __PYBPF_BCC_PROTO_H */
