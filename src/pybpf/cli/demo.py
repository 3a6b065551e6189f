"""``pybpf demo``: a live tour on the running kernel.

Assembles a socket filter with the DSL (accept DNS, drop the rest, count both
in an array map with an atomic add), loads it, runs it on crafted packets with
BPF_PROG_TEST_RUN, and shows what the kernel sees: map contents, program info
in bpftool's format, and the translated instructions.
"""

from __future__ import annotations

import os
import struct

from .. import MapType, ProgramType, asm, features
from ..asm import R0, R1, R2, R6, R7, R10
from ..map import Map
from ..prog import Program
from ._common import Context


def packet(dport: int, proto: int = 17) -> bytes:
    """An Ethernet/IPv4/UDP (or TCP) packet to ``dport``."""
    eth = b"\xff" * 6 + b"\x02\0\0\0\0\x01" + struct.pack("!H", 0x0800)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 36, 0, 0, 64, proto, 0, b"\x7f\0\0\x01", b"\x7f\0\0\x01")
    l4 = struct.pack("!HHHH", 40000, dport, 16, 0) + b"question"
    return eth + ip + l4


def dns_counter(counts: Map) -> list[asm.Instruction]:
    """Accept IPv4/UDP to port 53 (verdict 1 = keep), drop the rest (0); count verdicts in ``counts``."""
    b = asm.Builder()
    b.mov(R6, R1).mov(R7, 0)
    b.ldx(asm.W, R0, R1, 16).jne(R0, 0x0008, "count")       # skb->protocol != htons(ETH_P_IP)
    b.ld_abs(asm.B, 9).jne(R0, 17, "count")                  # ip->protocol != IPPROTO_UDP
    b.ld_abs(asm.H, 22).jne(R0, 53, "count")                 # udp->dest != 53
    b.mov(R7, 1)
    b.label("count")
    b.stx(asm.W, R10, -4, R7)                                # key = verdict
    b.mov(R2, R10).add(R2, -4)
    b.ld_map_fd(R1, counts.fd)
    b.call(asm.HelperID.map_lookup_elem)
    b.jeq(R0, 0, "out")
    b.mov(R1, 1)
    b.atomic_add(asm.DW, R0, 0, R1)                          # __sync_fetch_and_add(value, 1)
    b.label("out")
    b.mov(R0, R7).mul(R0, -1)                                # keep: whole packet (0xffffffff), drop: 0
    b.exit_()
    return b.build()


def run(ctx: Context, args: list[str]) -> int:  # noqa: ARG001
    with Map.create(MapType.ARRAY, 4, 8, 2, name="verdicts") as counts:  # fails first without privileges
        print(f"pybpf demo on Linux {os.uname().release}")
        insns = dns_counter(counts)
        print(f"\n1. assembled a {len(insns)}-instruction socket filter with the DSL:")
        print("   " + asm.disassemble(insns, style="llvm").rstrip().replace("\n", "\n   "))
        with Program.load(ProgramType.SOCKET_FILTER, insns, name="dns_counter", log_level=4) as prog:
            st = prog.verifier_stats
            print(f"\n2. loaded: id {prog.id}, tag {prog.tag} (local tag {prog.local_tag()})"
                  + (f", verifier processed {st.processed_insns} insns" if st else ""))
            print("\n3. BPF_PROG_TEST_RUN on crafted packets:")
            for name, pkt, n in (("DNS query (udp/53)", packet(53), 30), ("HTTP (tcp/80)", packet(80, 6), 12),
                                 ("NTP (udp/123)", packet(123), 8)):
                r = prog.test_run(pkt, repeat=n)
                print(f"   {name:<20} x{n:<3} -> retval {r.retval:#x} ({'keep' if r.retval else 'drop'}),"
                      f" {r.duration_ns} ns/run")
            drop, keep = (int.from_bytes(counts[i], "little") for i in (0, 1))
            print(f"\n4. the map counted in the kernel: keep={keep} drop={drop}")
            i = prog.info()
            print("\n5. the kernel's view (as `bpftool prog show`):")
            print(f"   {i.id}: {i.type.name.lower()}  name {i.name}  tag {i.tag}"  # type: ignore[union-attr]
                  + ("  gpl" if i.gpl_compatible else ""))
            print(f"   \tloaded_at {i.loaded_at.strftime('%Y-%m-%dT%H:%M:%S%z')}  uid {i.created_by_uid}")
            print(f"   \txlated {i.xlated_prog_len}B  jited {i.jited_prog_len}B  memlock {i.memlock}B"
                  f"  map_ids {','.join(map(str, i.map_ids))}")
            print("\n6. translated by the verifier (as `bpftool prog dump xlated`):")
            print("   " + prog.dump_xlated().rstrip().replace("\n", "\n   "))
    usable = [f for f in features.probe_all() if f.supported]
    print(f"\n7. feature probes: {len(usable)} program/map types and features usable here "
          "(`pybpf feature probe` lists them)")
    return 0
