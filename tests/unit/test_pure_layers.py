"""The pure layers (asm, btf, elf, spec) never load the kernel layers.

They must stay importable and usable where bpf(2) does not exist (a macOS laptop
parsing an object file, a build host without privileges): importing them may load
:mod:`pybpf._sys.consts` (UAPI enums) but nothing that calls into the kernel.
"""

from __future__ import annotations

import subprocess
import sys

_KERNEL_LAYERS = ("pybpf._sys.syscall", "pybpf._sys.cmds", "pybpf._sys.mapops", "pybpf._sys.perf",
                  "pybpf._sys.netlink", "pybpf.map", "pybpf.prog", "pybpf.links", "pybpf.events",
                  "pybpf.object", "pybpf.features", "pybpf.introspect", "pybpf._kobj")

# the child reports sys.modules with repr() so that reporting imports nothing
_CHILD = r"""
import sys
import pybpf.asm, pybpf.btf, pybpf.elf, pybpf.spec
import pybpf.elf.objspec, pybpf.elf.maps, pybpf.elf.sections, pybpf.elf.structops, pybpf.elf.dataview
sys.stdout.write(repr(sorted(sys.modules)))
"""


def _modules(code: str) -> set[str]:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(eval(r.stdout))  # noqa: S307 - our own child's repr of a list of str


def test_pure_layers_do_not_import_kernel_layers():
    mods = _modules(_CHILD)
    assert {"pybpf.asm", "pybpf.btf", "pybpf.elf", "pybpf.spec"} <= mods
    bad = sorted(m for m in mods if m.startswith(_KERNEL_LAYERS))
    assert not bad, f"pure layers imported kernel layers: {bad}"


def test_sys_package_names_stay_importable_lazily():
    """``from pybpf._sys import FD, bpf`` keeps working; only then is the syscall layer loaded."""
    mods = _modules("import sys; import pybpf._sys; from pybpf._sys import MapType; "
                    "assert 'pybpf._sys.syscall' not in sys.modules; "
                    "from pybpf._sys import FD, bpf, bpf_raw, raise_for, Cmd; "
                    "assert FD.__module__ == 'pybpf._sys.syscall' and MapType.HASH == 1; "
                    "sys.stdout.write(repr(sorted(sys.modules)))")
    assert "pybpf._sys.syscall" in mods


def test_sys_package_unknown_name_is_attribute_error():
    import pybpf._sys

    assert not hasattr(pybpf._sys, "no_such_name")
    assert {"FD", "bpf", "MapType"} <= set(dir(pybpf._sys))
