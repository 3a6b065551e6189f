"""pybpf.elf: struct_ops variables -> STRUCT_OPS map specs, programs bound by relocation (no root)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import pybpf.elf
from pybpf import ELFError, MapType, ProgramType
from pybpf._sys.consts import MapFlags, ProgFlags
from pybpf.elf.structops import is_struct_ops_section

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "obj"))
import build  # noqa: E402

OPS = "tcp_congestion_ops"


@pytest.fixture(scope="module")
def obj(tmp_path_factory) -> str:
    if build.clang() is None:
        pytest.skip(f"{build.CLANG} not installed")
    return build.build("structops.c", str(tmp_path_factory.mktemp("so") / "structops.o"))


def compile_src(tmp_path, src: str) -> str:
    if build.clang() is None:
        pytest.skip(f"{build.CLANG} not installed")
    c, o = tmp_path / "x.c", tmp_path / "x.o"
    c.write_text("#include <linux/types.h>\n#include <bpf/bpf_helpers.h>\n" + src)
    subprocess.run([build.clang(), *build.flags(), str(c), "-o", str(o)], check=True, capture_output=True)
    return str(o)


def test_sections():
    assert all(map(is_struct_ops_section, (".struct_ops", ".struct_ops.link", "?.struct_ops", "?.struct_ops.link")))
    assert not any(map(is_struct_ops_section, (".struct_ops.x", "struct_ops", ".data")))


def test_variables_become_struct_ops_maps(obj):
    spec = pybpf.elf.open(obj)
    st = {k: m for k, m in spec.maps.items() if m.struct_ops is not None}
    assert list(st) == ["so_plain", "so_link", "so_off", "so_nosuch", "so_badsize"]
    for m in st.values():
        assert (m.type, m.key_size, m.max_entries) == (MapType.STRUCT_OPS, 4, 1)
        assert m.value_size == m.struct_ops.struct.size and len(m.struct_ops.data) == m.value_size
        assert m.contents == [] and m.btf_value_type_id == 0
    assert (st["so_plain"].flags, st["so_plain"].section, st["so_plain"].autocreate) == (0, ".struct_ops", True)
    assert (st["so_link"].flags, st["so_link"].section) == (MapFlags.LINK, ".struct_ops.link")
    assert not st["so_off"].autocreate and st["so_off"].flags == 0
    assert st["so_badsize"].struct_ops.type_name == "tcp_congestion_ops___badsize"
    assert st["so_nosuch"].struct_ops.type_name == "pybpf_no_such_ops"


def test_function_pointers_bound_to_programs(obj):
    spec = pybpf.elf.open(obj)
    ops = spec.maps["so_plain"].struct_ops
    assert ops.type_name == OPS
    assert ops.programs == {"init": "so_init", "ssthresh": "so_ssthresh", "cong_avoid": "so_cong_avoid",
                            "undo_cwnd": "so_undo_cwnd"}
    assert spec.maps["so_off"].struct_ops.programs["ssthresh"] == "so_ssthresh_sleepable"
    v = ops.view
    assert v.name.rstrip(b"\0") == b"pybpf_so" and v.flags == 0 and v.pybpf_extra == 0
    assert v.init == v.ssthresh == 0  # pointer bytes are not kept: programs says what goes there
    assert spec.maps["so_badsize"].struct_ops.view.flags == 1


def test_programs_get_their_attach_target(obj):
    spec = pybpf.elf.open(obj)
    members = [m.name for m in spec.maps["so_plain"].struct_ops.struct.members]
    for name, member in (("so_init", "init"), ("so_ssthresh", "ssthresh"), ("so_cong_avoid", "cong_avoid"),
                         ("so_undo_cwnd", "undo_cwnd"), ("so_ssthresh_sleepable", "ssthresh")):
        p = spec.programs[name]
        assert p.type == ProgramType.STRUCT_OPS
        assert (p.attach_to, p.expected_attach_type) == (f"{OPS}:{member}", members.index(member))
    assert spec.programs["so_ssthresh_sleepable"].flags == ProgFlags.SLEEPABLE
    unused = spec.programs["so_unused"]
    assert (unused.attach_to, unused.autoload) == ("", False)


def test_spec_is_editable_and_copies_are_independent(obj):
    spec = pybpf.elf.open(obj)
    ops = spec.maps["so_plain"].struct_ops
    ops.view.name = b"renamed"
    assert ops.data.startswith(b"renamed\0")
    dup = spec.copy()
    dup.maps["so_plain"].struct_ops.view.name = b"other"
    del dup.maps["so_plain"].struct_ops.programs["init"]
    assert ops.data.startswith(b"renamed\0") and "init" in ops.programs
    assert ops.member_index("undo_cwnd") == 5
    with pytest.raises(KeyError):
        ops.member_index("nope")


def test_non_struct_ops_program_in_a_function_pointer(tmp_path):
    o = compile_src(tmp_path, """
struct ops { int (*f)(void *ctx); };
SEC("xdp") int not_ops(void *ctx) { return 2; }
SEC(".struct_ops") struct ops bad = { .f = (void *)not_ops };
""")
    with pytest.raises(ELFError, match="'not_ops' is not a struct_ops program"):
        pybpf.elf.open(o)


def test_struct_ops_variable_must_be_a_struct(tmp_path):
    o = compile_src(tmp_path, 'SEC(".struct_ops") int notastruct = 1;\n')
    with pytest.raises(ELFError, match="is not a struct"):
        pybpf.elf.open(o)
