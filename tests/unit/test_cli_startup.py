"""The CLI's start-up path stays lean: listing verbs import only what they need.

A Python process cannot start as fast as bpftool (a ~1 ms C binary), so every
module the common verbs import counts (``bench/cli.py`` prints the wall times).
This checks the mechanism, not the time: modules that cost milliseconds and
that listings never use must not be imported by them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# stdlib modules that cost milliseconds to import and that listings never need
_HEAVY_STDLIB = {"typing", "platform", "threading", "json", "datetime", "subprocess", "argparse", "importlib",
                 "inspect", "dataclasses", "pathlib", "tempfile", "hashlib", "asyncio", "socket", "selectors",
                 "zlib"}
# pybpf layers a listing never touches
_HEAVY_PYBPF = ("pybpf.btf", "pybpf.elf", "pybpf.asm", "pybpf.object", "pybpf.compile", "pybpf.bcc",
                "pybpf.links", "pybpf.events", "pybpf.map", "pybpf.prog", "pybpf.features")

# the child reports sys.modules with repr() so that reporting imports nothing
_CHILD = r"""
import sys
from pybpf.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stdout.flush()
sys.stderr.write("\n@@" + repr(sorted(sys.modules)))
"""


@pytest.mark.parametrize("verb", [["prog", "list"], ["map", "list"], ["link", "list"], ["btf", "list"],
                                  ["--version"]])
def test_listing_verbs_import_little(verb):
    r = subprocess.run([sys.executable, "-c", _CHILD, *verb], capture_output=True, text=True, timeout=60)
    mods = set(eval(r.stderr.rsplit("@@", 1)[1]))  # noqa: S307 - our own child's repr of a list of str
    assert not mods & _HEAVY_STDLIB, sorted(mods & _HEAVY_STDLIB)
    bad = sorted(m for m in mods if m.startswith(_HEAVY_PYBPF))
    assert not bad, bad


def test_lazy_package_attributes_still_work():
    r = subprocess.run([sys.executable, "-c", "import pybpf, json; print(json.dumps([pybpf.Map.__name__, "
                        "pybpf.ProgramType.XDP.name, callable(pybpf.links)]))"],
                       capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(r.stdout) == ["Map", "XDP", True]


def test_fast_built_constants_are_real_enums():
    """consts builds its enums from plain bodies (faster start-up); they must stay real enums."""
    import enum
    import pickle

    from pybpf._sys import consts as c

    assert issubclass(c.ProgramType, enum.IntEnum) and issubclass(c.MapFlags, enum.IntFlag)
    assert c.ProgramType(6) is c.ProgramType.XDP and c.ProgramType["XDP"] == 6
    assert c.ProgramType.__doc__ and c.ProgramType.__module__ == "pybpf._sys.consts"
    assert repr(c.MapFlags(3)) == "<MapFlags.NO_PREALLOC|NO_COMMON_LRU: 3>"
    assert int(c.MapFlags(1 << 30)) == 1 << 30  # unknown bits are kept, as IntFlag does
    assert pickle.loads(pickle.dumps(c.AttachType.XDP)) is c.AttachType.XDP
    with pytest.raises(ValueError):
        c.ProgramType(999)


def test_btf_type_name_agrees_with_the_btf_package():
    """prog list completes truncated names with a tiny BTF walk instead of pybpf.btf."""
    from pybpf.btf import BTF
    from pybpf.cli._btfname import btf_type_name

    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        data = f.read()
    btf = BTF.from_bytes(data)
    for tid in (1, 2, 100, 5000, len(btf) - 1):
        assert btf_type_name(data, tid) == (btf[tid].name or None)
    assert btf_type_name(data, len(btf) + 5) is None
    assert btf_type_name(b"\0" * 30, 1) is None and btf_type_name(data[:100], 50) is None


def test_datasec_var_names(tmp_path):
    import io

    from elftools.elf.elffile import ELFFile

    from pybpf.btf import BTF
    from pybpf.cli._btfname import datasec_var_names
    from pybpf.compile import compile as cc

    obj = cc('const volatile int bpf_metadata_a = 1; const volatile char other = 2;\n'
             'char _license[] __attribute__((section("license"))) = "GPL";\n'
             '__attribute__((section("xdp"))) int f(void *ctx) { return bpf_metadata_a + other; }\n')
    data = ELFFile(io.BytesIO(obj)).get_section_by_name(".BTF").data()
    sec = next(t for t in BTF.from_bytes(data) if t.name == ".rodata")
    assert sorted(datasec_var_names(data, sec.id)) == ["bpf_metadata_a", "other"]
    assert datasec_var_names(data, 1) == [] and datasec_var_names(b"junk", 1) == []
