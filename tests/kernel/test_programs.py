"""Programs on the real kernel: load, verifier errors, test_run, tags, xlated, info, pins."""

from __future__ import annotations

import os
import struct

import pytest

import pybpf
from pybpf import Map, MapType, Program, ProgramType, asm
from pybpf.asm import R0, R1, R2, R3, R6, R10


def _eth_ipv4_udp(dport: int, proto: int = 17, ethertype: int = 0x0800) -> bytes:
    eth = b"\xff" * 6 + b"\x02\0\0\0\0\x01" + struct.pack("!H", ethertype)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, proto, 0, b"\x7f\0\0\x01", b"\x7f\0\0\x01")
    udp = struct.pack("!HHHH", 12345, dport, 8, 0)
    return eth + ip + udp + b"payload!"


def dns_filter() -> list:
    """Accept IPv4/UDP packets to port 53, drop everything else (socket filter).

    Socket filters see the packet from the network header on; skb->protocol
    (__sk_buff offset 16, network byte order) says what it is.
    """
    return asm.Builder() \
        .mov(R6, R1) \
        .ldx(asm.W, R0, R1, 16) \
        .jne(R0, 0x0008, "drop") \
        .ld_abs(asm.B, 9) \
        .jne(R0, 17, "drop") \
        .ld_abs(asm.H, 22) \
        .jne(R0, 53, "drop") \
        .mov(R0, -1) \
        .exit_() \
        .label("drop") \
        .mov(R0, 0) \
        .exit_() \
        .build()


def test_verifier_rejects_unset_r0():
    with pytest.raises(pybpf.VerifierError) as ei:
        Program.load(ProgramType.SOCKET_FILTER, [asm.exit_()], name="bad")
    e = ei.value
    assert "R0 !read_ok" in str(e)
    assert "\n" not in str(e)
    assert "R0 !read_ok" in e.log and e.errno == 13
    assert "R0 !read_ok" in e.tail(3)


def test_verifier_log_on_success_and_stats():
    with Program.load(ProgramType.SOCKET_FILTER, [asm.mov(R0, 0), asm.exit_()], log_level=1) as p:
        assert "processed 2 insns" in p.verifier_log
        assert p.verifier_stats is not None and p.verifier_stats.processed_insns == 2
    with Program.load(ProgramType.SOCKET_FILTER, [asm.mov(R0, 0), asm.exit_()]) as p:
        assert p.verifier_log == "" and p.verifier_stats is None


def test_socket_filter_dsl_test_run():
    with Program.load(ProgramType.SOCKET_FILTER, dns_filter(), name="dns_only") as p:
        assert p.test_run(_eth_ipv4_udp(53)).retval == 0xFFFFFFFF
        assert p.test_run(_eth_ipv4_udp(80)).retval == 0
        assert p.test_run(_eth_ipv4_udp(53, proto=6)).retval == 0
        assert p.test_run(_eth_ipv4_udp(53, ethertype=0x0806)).retval == 0
        r = p.test_run(_eth_ipv4_udp(53), repeat=1000)
        assert r.duration_ns >= 0 and r.retval == 0xFFFFFFFF


def test_xdp_test_run_data_out():
    pkt = _eth_ipv4_udp(53)
    with Program.load(ProgramType.XDP, [asm.mov(R0, 2), asm.exit_()], name="xdp_pass") as p:
        r = p.test_run(pkt)
        assert r.retval == 2 and r.data_out == pkt


def test_text_assembled_program_loads():
    text = """
        r0 = 0
        r1 = 5
        if r1 > 3 goto +1
        r0 = 1
        exit
    """
    with Program.load(ProgramType.SOCKET_FILTER, asm.assemble(text)) as p:
        assert p.test_run(bytes(64)).retval == 0


def _programs_for_tags(m: Map) -> list[tuple[ProgramType, list]]:
    progs = [
        (ProgramType.SOCKET_FILTER, [asm.mov(R0, 0), asm.exit_()]),
        (ProgramType.SOCKET_FILTER, [asm.mov(R0, 1), asm.exit_()]),
        (ProgramType.SOCKET_FILTER, dns_filter()),
        (ProgramType.XDP, [asm.mov(R0, 2), asm.exit_()]),
        (ProgramType.XDP, [asm.mov32(R0, 1), asm.add32(R0, 1), asm.exit_()]),
        (ProgramType.SCHED_CLS, [asm.mov(R0, 0), asm.exit_()]),
        (ProgramType.SOCKET_FILTER, [asm.call(asm.HelperID.get_prandom_u32), asm.exit_()]),
        (ProgramType.SOCKET_FILTER, [asm.call(asm.HelperID.ktime_get_ns), asm.mov(R0, 0), asm.exit_()]),
        (ProgramType.TRACEPOINT, [asm.mov(R0, 0), asm.exit_()]),
        (ProgramType.RAW_TRACEPOINT, [asm.mov(R0, 0), asm.exit_()]),
        (ProgramType.SOCKET_FILTER, [
            asm.st(asm.W, R10, -4, 0), asm.mov(R2, R10), asm.add(R2, -4), asm.ld_map_fd(R1, m.fd),
            asm.call(asm.HelperID.map_lookup_elem), asm.mov(R0, 0), asm.exit_()]),
        (ProgramType.SOCKET_FILTER, [asm.ld_imm64(R3, 0x1122334455667788), asm.mov(R0, 0), asm.exit_()]),
    ]
    return progs


def test_local_tag_equals_kernel_tag_for_a_dozen_programs():
    with Map.create(MapType.HASH, 4, 8, 4) as m:
        progs = _programs_for_tags(m)
        assert len(progs) >= 12
        for t, insns in progs:
            with Program.load(t, insns) as p:
                assert p.local_tag() == p.tag == p.info().tag, (t, asm.disassemble(insns))


def test_xlated_matches_loaded_modulo_rewrites():
    # No context access, no legacy packet loads: nothing for the verifier to rewrite.
    insns = asm.Builder().mov(R0, 0).mov(R1, 5).jgt(R1, 3, "out").mov(R0, 1).label("out") \
        .add32(R0, 7).lsh(R0, 2).exit_().build()
    with Program.load(ProgramType.SOCKET_FILTER, insns) as p:
        want = asm.resolve(insns)
        assert asm.encode(p.xlated()) == asm.encode(want[:2] + want[4:])  # dead branch removed
    # Unknown values keep every instruction; helper calls carry the helper's address delta.
    insns = asm.Builder().call(asm.HelperID.get_prandom_u32).jgt(R0, 3, "out").mov(R0, 1).label("out") \
        .and_(R0, 1).exit_().build()
    with Program.load(ProgramType.SOCKET_FILTER, insns) as p:
        x = p.xlated()
        assert len(x) == len(insns) and x[0].is_call
        assert asm.encode(x[1:]) == asm.encode(asm.resolve(insns)[1:])
    # Context accesses and ld_abs are rewritten: the dump is longer but still decodes.
    with Program.load(ProgramType.SOCKET_FILTER, dns_filter()) as p:
        assert len(p.xlated()) > len(dns_filter())
    # Map fd loads: xlated shows the map id in place of our fd.
    with Map.create(MapType.ARRAY, 4, 4, 1) as m:
        insns = [asm.ld_map_fd(R1, m.fd), asm.mov(R0, 0), asm.exit_()]
        with Program.load(ProgramType.SOCKET_FILTER, insns) as p:
            x = p.xlated()
            assert x[0].is_map_load and x[0].imm & 0xFFFFFFFF == m.id
            assert asm.encode(x[1:]) == asm.encode(insns[1:])
            text = asm.disassemble(x, style="xlated")
            assert f"map[id:{m.id}]" in text


def test_info_fields():
    with Map.create(MapType.HASH, 4, 8, 4) as m:
        insns = [asm.ld_map_fd(R1, m.fd), asm.mov(R0, 0), asm.exit_()]
        with Program.load(ProgramType.SOCKET_FILTER, insns, name="info_test", license="GPL") as p:
            i = p.info()
            assert i.id == p.id and i.type == ProgramType.SOCKET_FILTER and i.name == "info_test"
            assert i.gpl_compatible and i.map_ids == [m.id]
            assert i.xlated_prog_len == 8 * 4 and i.jited_prog_len > 0
            assert i.memlock and i.memlock > 0 and i.created_by_uid == 0
            assert abs(i.loaded_at.timestamp() - __import__("time").time()) < 60
            assert len(p.jited()) == i.jited_prog_len
    with Program.load(ProgramType.SOCKET_FILTER, [asm.mov(R0, 0), asm.exit_()], license="Proprietary") as p:
        assert not p.info().gpl_compatible


def test_gpl_only_helper_rejected_for_proprietary():
    insns = [asm.call(asm.HelperID.trace_printk), asm.mov(R0, 0), asm.exit_()]
    with pytest.raises(pybpf.VerifierError, match="GPL"):
        Program.load(ProgramType.TRACEPOINT, insns, license="Proprietary")


def test_pin_from_pin_from_id():
    from pybpf._sys.fs import ensure_bpffs

    ensure_bpffs()
    path = f"/sys/fs/bpf/pybpf_prog_{os.getpid()}"
    with Program.load(ProgramType.XDP, [asm.mov(R0, 2), asm.exit_()], name="pinme") as p:
        p.pin(path)
        try:
            with Program.from_pin(path) as q:
                assert q.id == p.id and q.name == "pinme" and q.type == ProgramType.XDP
            with Program.from_id(p.id) as q:
                assert q.test_run(bytes(64)).retval == 2
        finally:
            Program.unpin(path)
    with pytest.raises(pybpf.Error):
        Program.from_pin(path)


def test_bind_map():
    with Map.create(MapType.ARRAY, 4, 4, 1) as m, \
            Program.load(ProgramType.SOCKET_FILTER, [asm.mov(R0, 0), asm.exit_()]) as p:
        p.bind_map(m)
        assert m.id in p.info().map_ids


def test_enable_stats_counts_runs():
    with Program.load(ProgramType.XDP, [asm.mov(R0, 2), asm.exit_()]) as p:
        with pybpf.enable_stats():
            p.test_run(bytes(64), repeat=10)
            i = p.info()
        assert i.run_cnt >= 10


def test_maps_by_name():
    with Map.create(MapType.ARRAY, 4, 4, 1, name="cfg") as m:
        insns = [asm.ld_map_by_name(R1, "cfg"), asm.mov(R0, 0), asm.exit_()]
        with Program.load(ProgramType.SOCKET_FILTER, insns, maps={"cfg": m}) as p:
            assert p.info().map_ids == [m.id]
        with pytest.raises(pybpf.Error, match="cfg"):
            Program.load(ProgramType.SOCKET_FILTER, insns)


def test_bad_inputs_are_typed():
    with pytest.raises(pybpf.Error):
        Program.load(ProgramType.SOCKET_FILTER, b"\x00" * 7)
    with pytest.raises(pybpf.Error):
        Program.load(ProgramType.SOCKET_FILTER, [])
    with pytest.raises(pybpf.NotSupportedError):
        Program.load(200, [asm.mov(R0, 0), asm.exit_()])


def test_introspection_lists_our_objects():
    with Map.create(MapType.HASH, 4, 4, 4, name="introsp_m") as m, \
            Program.load(ProgramType.XDP, [asm.mov(R0, 2), asm.exit_()], name="introsp_p") as p:
        assert any(i.id == p.id and i.name == "introsp_p" for i in pybpf.programs())
        assert any(i.id == m.id and i.name == "introsp_m" for i in pybpf.maps())
        assert any(b.kernel_btf and b.name == "vmlinux" for b in pybpf.btfs())
        list(pybpf.links())


def test_verifier_log_grows_on_enospc():
    insns = [asm.mov(R0, 0)] * 200 + [asm.exit_()]
    with Program.load(ProgramType.SOCKET_FILTER, insns, log_level=2, log_size=128) as p:
        assert len(p.verifier_log) > 128 and "processed 201 insns" in p.verifier_log


def test_prog_array_takes_program_objects():
    with Map.create(MapType.PROG_ARRAY, 4, 4, 2) as pa, \
            Program.load(ProgramType.SOCKET_FILTER, [asm.mov(R0, 7), asm.exit_()], name="tail") as tail:
        pa[0] = tail
        assert int.from_bytes(pa[0], "little") == tail.id
        # a tail call through the array runs `tail`
        caller = [asm.mov(R6, R1), asm.ld_map_fd(R2, pa.fd), asm.mov(R3, 0), asm.mov(R1, R6),
                  asm.call(asm.HelperID.tail_call), asm.mov(R0, 1), asm.exit_()]
        with Program.load(ProgramType.SOCKET_FILTER, caller) as p:
            assert p.test_run(bytes(64)).retval == 7
        del pa[0]


def test_test_run_syscall_and_raw_tp_defaults():
    # syscall programs write their context back: ctx_out carries it
    insns = [asm.ldx(asm.W, R2, R1, 0), asm.add(R2, 1), asm.stx(asm.W, R1, 0, R2), asm.mov(R0, 5), asm.exit_()]
    with Program.load(ProgramType.SYSCALL, insns, flags=pybpf.ProgFlags.SLEEPABLE) as p:
        r = p.test_run(ctx=(41).to_bytes(4, "little"))
        assert r.retval == 5 and r.ctx_out == (42).to_bytes(4, "little")
    with Program.load(ProgramType.RAW_TRACEPOINT, [asm.mov(R0, 3), asm.exit_()]) as p:
        assert p.test_run(ctx=bytes(8)).retval == 3
