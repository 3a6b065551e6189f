"""program_tag(): the kernel's bpf_prog_calc_tag() computed offline."""

from __future__ import annotations

import hashlib

import pytest

from pybpf.asm import (
    R0, R1, Instruction, encode, exit_, ld_imm64, ld_map_fd, ld_map_idx, ld_map_value, mov,
    program_tag, tag_algorithm_for_kernel,
)
from pybpf.errors import AssemblerError

RET0 = [mov(R0, 0), exit_()]


def test_known_tags() -> None:
    # Linux 6.18 reported tag 59f4a931744dcdc6 for "r0 = 0; exit" (SHA-256);
    # kernels up to 6.17 use SHA-1 of the same bytes.
    assert program_tag(RET0, "sha256") == "59f4a931744dcdc6"
    assert program_tag(RET0, "sha1") == hashlib.sha1(encode(RET0)).hexdigest()[:16] == "a04f5eef06a7f555"
    assert program_tag(encode(RET0), "sha256") == "59f4a931744dcdc6"


def test_map_fds_do_not_change_the_tag() -> None:
    a = [ld_map_fd(R1, 3), ld_map_value(R1, 4, 8), mov(R0, 0), exit_()]
    b = [ld_map_fd(R1, 99), ld_map_value(R1, 5, 16), mov(R0, 0), exit_()]
    for algo in ("sha1", "sha256"):
        assert program_tag(a, algo) == program_tag(b, algo)
        zeroed = [Instruction(0x18, 1, 1, 0, 0), Instruction(0x18, 1, 2, 0, 0), mov(R0, 0), exit_()]
        assert program_tag(a, algo) == hashlib.new(algo, encode(zeroed)).hexdigest()[:16]


def test_other_immediates_change_the_tag() -> None:
    # map_idx (fd_array index) and plain 64-bit constants are stable and hashed as is
    assert program_tag([ld_map_idx(R1, 0), exit_()], "sha1") != program_tag([ld_map_idx(R1, 1), exit_()], "sha1")
    assert program_tag([ld_imm64(R1, 1), exit_()], "sha1") != program_tag([ld_imm64(R1, 2), exit_()], "sha1")
    assert program_tag([mov(R0, 1), exit_()], "sha256") != program_tag(RET0, "sha256")


def test_raw_slot_rules() -> None:
    # The kernel only zeroes a second slot that looks like an lddw continuation.
    data = bytes.fromhex("1811000007000000" "9500000000000000")
    expected = hashlib.sha1(bytes.fromhex("1811000000000000" "9500000000000000")).hexdigest()[:16]
    assert program_tag(data, "sha1") == expected


def test_algorithm_selection() -> None:
    assert tag_algorithm_for_kernel("6.18.44-fc") == "sha256"
    assert tag_algorithm_for_kernel("7.0.0") == "sha256"
    assert tag_algorithm_for_kernel("6.17.9") == "sha1"
    assert tag_algorithm_for_kernel("5.15.0-91-generic") == "sha1"
    assert program_tag(RET0) == program_tag(RET0, tag_algorithm_for_kernel())
    with pytest.raises(AssemblerError):
        program_tag(RET0, "md5")
    with pytest.raises(AssemblerError):
        program_tag(b"\x95" * 7, "sha1")
