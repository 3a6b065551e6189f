"""Fuzz pybpf.elf: mutated objects raise only ELFError/BTFError, quickly, never hang."""

from __future__ import annotations

import os
import struct
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.errors import BTFError, ELFError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "obj"))
import build  # noqa: E402

_CACHE: dict[str, bytes] = {}


def _obj(name: str) -> bytes:
    if name not in _CACHE:
        if build.clang() is None:
            pytest.skip(f"{build.CLANG} not installed")
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            with open(build.build(f"{name}.c", os.path.join(d, f"{name}.o")), "rb") as f:
                _CACHE[name] = f.read()
    return _CACHE[name]


def _parse(data: bytes) -> None:
    import pybpf.elf

    try:
        spec = pybpf.elf.open(data, name="fuzz")
    except (ELFError, BTFError):
        return
    for p in spec.programs.values():  # whatever parsed must be usable
        assert p.instructions is not None
    for m in spec.maps.values():
        assert m.name


mutations = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=8)
FUZZ = settings(max_examples=250, deadline=3000, suppress_health_check=[HealthCheck.too_slow])


def _mutate(data: bytes, muts: list[tuple[int, int]]) -> bytes:
    b = bytearray(data)
    for pos, val in muts:
        b[pos % len(b)] = val
    return bytes(b)


@pytest.mark.parametrize("name", ["hello", "subprogs", "tailcall", "externs"])
@FUZZ
@given(muts=mutations)
def test_byte_flips(name, muts):
    _parse(_mutate(_obj(name), muts))


@FUZZ
@given(cut=st.integers(0, 1 << 16), extra=st.binary(max_size=64))
def test_truncate_and_append(cut, extra):
    data = _obj("globals")
    _parse(data[:cut % (len(data) + 1)] + extra)


def _section_headers(data: bytes) -> list[tuple[int, int]]:
    shoff, = struct.unpack_from("<Q", data, 40)
    _, shnum = struct.unpack_from("<HH", data, 58)
    return [(shoff + i * 64, i) for i in range(shnum)]


@FUZZ
@given(which=st.integers(0, 1000), field=st.sampled_from([4, 8, 24, 32, 40, 44, 56]),
       value=st.sampled_from([0, 1, 7, 8, 24, 0xFFFF, 0xFFFFFFFF, 1 << 40, (1 << 64) - 1]))
def test_section_header_fields(which, field, value):
    data = bytearray(_obj("mapinmap"))
    hdrs = _section_headers(bytes(data))
    base, _ = hdrs[which % len(hdrs)]
    size = 4 if field in (4, 40, 44) else 8
    struct.pack_into("<I" if size == 4 else "<Q", data, base + field, value & ((1 << (8 * size)) - 1))
    _parse(bytes(data))


@FUZZ
@given(muts=st.lists(st.tuples(st.integers(0, 1 << 14), st.integers(0, 255)), min_size=1, max_size=6))
def test_btf_section_flips(muts):
    """Mutate only the .BTF / .BTF.ext / .maps contents, where most of the parsing logic is."""
    import pybpf.elf.reader as r

    data = _obj("core")
    elf = r.ElfObject(data)
    secs = [s for s in elf.sections if s.name in (".BTF", ".BTF.ext", ".maps", ".rel.BTF", ".symtab")]
    b = bytearray(data)
    for pos, val in muts:
        s = secs[pos % len(secs)]
        if s.size:
            b[s.offset + (pos // len(secs)) % s.size] = val
    _parse(bytes(b))
