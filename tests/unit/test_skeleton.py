"""Python skeletons (pybpf.skeleton.generate): generated source, import, spec-side use (no kernel)."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "obj"))

import pybpf  # noqa: E402
from pybpf import skeleton  # noqa: E402

import build  # noqa: E402


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    if build.clang() is None:
        pytest.skip(f"{build.CLANG} not installed")
    return build.build_all(str(tmp_path_factory.mktemp("objs")))


def import_source(src: str, path, modname: str):
    """Write ``src`` to ``path`` and import it as ``modname``."""
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(modname, str(path))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(modname, None)
    return mod


def skel_module(objs, tmp_path, obj: str, name: str | None = None):
    src = skeleton.main_gen_skeleton(objs[obj], name)
    return import_source(src, tmp_path / f"{obj}_skel.py", f"{obj}_skel_{os.getpid()}")


def test_every_test_object_generates_and_imports(objs, tmp_path):
    for name, path in objs.items():
        src = skeleton.main_gen_skeleton(path)
        mod = import_source(src, tmp_path / f"{name}_skel.py", f"skel_{name}")
        cls = getattr(mod, skeleton._camel(os.path.basename(path).split(".")[0]))  # noqa: SLF001
        assert issubclass(cls, skeleton.Skeleton)
        assert cls.object_bytes() == open(path, "rb").read()
        spec = cls.open()
        assert isinstance(spec.spec, pybpf.ObjectSpec)
        assert set(spec.progs) == {skeleton._ident(p, set(), skeleton._RESERVED_NS)  # noqa: SLF001
                                   for p in spec.spec.programs}


def test_hello_skeleton_shape(objs, tmp_path):
    mod = skel_module(objs, tmp_path, "hello")
    Hello = mod.Hello
    assert mod.OBJECT_NAME == "hello" and Hello.OBJECT_NAME == "hello"
    assert Hello.SPEC is mod.HelloSpec and mod.HelloSpec.SKELETON is Hello
    assert list(mod.HelloProgs.KEYS) == ["hello"]
    assert mod.HelloMaps.KEYS == {"bss": ".bss", "rodata": ".rodata"}
    assert set(Hello.SECTIONS) == {"bss", "rodata"}
    assert Hello.SECTIONS["bss"] == (".bss", mod.HelloBss)
    # typed properties, per global variable; the static format string is left out (as bpftool does)
    assert isinstance(mod.HelloBss.__dict__["counter"], property)
    assert mod.HelloBss.VARIABLES == {"counter": "counter"}
    assert mod.HelloRodata.VARIABLES == {}
    assert Hello.__annotations__["progs"] == "HelloProgs"
    assert mod.HelloProgs.__annotations__["hello"] == "pybpf.Program"


def test_spec_side(objs, tmp_path):
    mod = skel_module(objs, tmp_path, "globals")
    spec = mod.Globals.open()
    assert isinstance(spec, mod.GlobalsSpec)
    assert spec.progs.count.section == "tc"
    assert isinstance(spec.progs.count, pybpf.elf.ObjectProgramSpec)
    assert spec.maps.bss.name == "globals.bss" and spec.maps.data_custom.name == ".data.custom"
    # initial values, through typed properties
    assert (spec.rodata.target_pid, spec.rodata.verbose, spec.rodata.greeting) == (0, 1, "hi there")
    assert spec.data.data_counter == 7 and spec.data_custom.custom_data == 42 and spec.rodata_custom.custom_ro == 9
    assert spec.data.pair_data.kind == 5
    assert spec.bss.packets == 0
    # writes go to the spec's buffers, which load() will use
    spec.rodata.target_pid = 42
    spec.data.pair_data = {"a": 3, "b": 4, "flag": 0, "kind": 2}
    assert spec.spec.rodata.target_pid == 42
    assert spec.spec.data.pair_data.a == 3
    assert spec.rodata._asdict() == {"target_pid": 42, "verbose": 1, "greeting": "hi there"}  # noqa: SLF001
    with pytest.raises(AttributeError):
        spec.rodata.no_such_variable = 1
    # static variables stay reachable through the underlying view
    assert bytes(spec.rodata._view.raw("count.____fmt")).rstrip(b"\0") == b"%s %u"  # noqa: SLF001
    # a new open() is independent
    assert mod.Globals.open().rodata.target_pid == 0


def test_map_types_are_ctypes_from_btf(objs, tmp_path):
    from pybpf.btf.values import codec_for

    mod = skel_module(objs, tmp_path, "pinned")
    T = mod.Pinned.types
    assert T.pinned_stats_key is ctypes.c_uint32
    V = T.pinned_stats_value
    assert issubclass(V, ctypes.Structure) and V.__name__ == "stats" and ctypes.sizeof(V) == 16
    assert [f[0] for f in V._fields_][:2] == ["packets", "last_len"]
    spec = mod.Pinned.open().spec
    codec = codec_for(spec.btf, spec.maps["pinned_stats"].btf_value_type_id)
    v = codec.decode(bytes(V(packets=5, last_len=60)))
    assert (v.packets, v.last_len) == (5, 60)
    assert V.from_buffer_copy(codec.encode({"packets": 7, "last_len": 9})).last_len == 9


def test_core_object_struct_global(objs, tmp_path):
    mod = skel_module(objs, tmp_path, "core")
    spec = mod.Core.open()
    assert mod.CoreBss.__dict__["last_event"].fget.__annotations__["return"] == "StructValue"
    assert spec.bss.last_event.comm == ""
    assert spec.progs.task_info.section == "raw_tp/sys_enter"


def test_name_override_and_main(objs, tmp_path):
    src = skeleton.main_gen_skeleton(objs["hello"], "my-tool")
    mod = import_source(src, tmp_path / "t.py", "skel_mytool")
    assert mod.MyTool.OBJECT_NAME == "my-tool"
    assert mod.MyTool.open().maps.bss.name == "my-tool.bss"[:15].replace("-", "_")
    p = tmp_path / "hello.bpf.o"
    p.write_bytes(open(objs["hello"], "rb").read())
    assert "class Hello(_skel.Skeleton)" in skeleton.main_gen_skeleton(str(p))
    assert "class Obj(_skel.Skeleton)" in skeleton.generate(p.read_bytes())


def test_identifiers():
    taken: set[str] = set()
    assert skeleton._ident("class", taken) == "class_"  # noqa: SLF001
    assert skeleton._ident("count.____fmt", taken) == "count_____fmt"  # noqa: SLF001
    assert skeleton._ident("9lives", taken) == "_9lives"  # noqa: SLF001
    assert skeleton._ident("class", taken) == "class__2"  # noqa: SLF001
    assert skeleton._ident("load", set(), skeleton._RESERVED_OBJ) == "load_"  # noqa: SLF001
    assert skeleton._camel("hello_buffer-config") == "HelloBufferConfig"  # noqa: SLF001
    assert skeleton._camel("") == "Skeleton" and skeleton._camel("3d") == "Bpf3d"  # noqa: SLF001


def test_python_keywords_and_reserved_names(tmp_path):
    """C names that are Python keywords or clash with the skeleton's own attributes."""
    if build.clang() is None:
        pytest.skip(f"{build.CLANG} not installed")
    src = tmp_path / "kw.c"
    src.write_text(textwrap.dedent("""\
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        int lambda = 1;
        int _view = 2;
        const volatile int from = 3;
        struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
                 __type(key, __u32); __type(value, __u64); } load SEC(".maps");
        SEC("socket") int def(struct __sk_buff *skb) { return lambda + _view + from; }
        SEC("socket") int KEYS(struct __sk_buff *skb) { return 0; }
        char LICENSE[] SEC("license") = "GPL";
        """))
    out = tmp_path / "kw.o"
    r = subprocess.run([build.clang(), *build.flags(), str(src), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    mod = import_source(skeleton.main_gen_skeleton(str(out)), tmp_path / "kw_skel.py", "skel_kw")
    spec = mod.Kw.open()
    assert spec.data.lambda_ == 1 and spec.data._view_ == 2 and spec.rodata.from_ == 3  # noqa: SLF001
    assert spec.progs.def_.name == "def" and spec.progs.KEYS_.name == "KEYS"
    assert spec.maps.load.name == "load"


def test_corpus_objects_generate(tmp_path):
    """Third-party objects (tests/data/ebpf-samples.tar.xz) that parse also give importable skeletons."""
    sys.path.insert(0, os.path.dirname(__file__))
    import test_elf_corpus as corpus

    if not os.path.exists(corpus.TARBALL):
        pytest.skip("corpus tarball missing")
    n = 0
    for rel in sorted(corpus.EXPECTED_SPECS):
        data = corpus.corpus()[rel]
        name = os.path.basename(rel).split(".")[0]
        mod = import_source(skeleton.generate(data, name), tmp_path / f"c{n}.py", f"corpus_skel_{n}")
        cls = getattr(mod, skeleton._camel(name))  # noqa: SLF001
        spec = cls.open()
        for attr in cls.SECTIONS:
            getattr(spec, attr)._asdict()  # noqa: SLF001
        n += 1
    assert n == len(corpus.EXPECTED_SPECS)
