"""pybpf.compile driver and cache: warm hits never run the compiler, invalidation, corruption,
diagnostics in user coordinates, vmlinux.h serving, progress notices. Runs the real compilers
(the ziglang wheel and clang-19 when installed); no root needed."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pybpf.compile import compile, compile_file, driver, store, toolchain, vmlinux
from pybpf.errors import CompileError

ELF_BPF = 247

COMPILERS = [c for c, ok in (("zig", toolchain.zig_path() is not None), ("clang-19", shutil.which("clang-19")))
             if ok]
pytestmark = pytest.mark.skipif(not COMPILERS, reason="no BPF C compiler (pip install ziglang)")

HELLO = textwrap.dedent("""\
    #include <bpf/bpf_helpers.h>
    int counter = 0;
    SEC("xdp")
    int hello(void *ctx)
    {
        bpf_printk("Hello World %d", counter);
        counter++;
        return 2;
    }
    char LICENSE[] SEC("license") = "GPL";
    """)

HAVE_BTF = os.path.exists(vmlinux.VMLINUX_BTF)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(d))
    monkeypatch.delenv("PYBPF_COMPILE_CACHE", raising=False)
    monkeypatch.delenv("PYBPF_CC", raising=False)
    return d / "compile"


@pytest.fixture(scope="session")
def vmlinux_text():
    """vmlinux.h text, made once per session: pybpf's dumper, or bpftool if the dumper is absent
    (the bpftool fallback exists only here, in tests)."""
    if not HAVE_BTF:
        pytest.skip("kernel without BTF")
    try:
        from pybpf.btf.cdump import dump_c  # noqa: F401
        return vmlinux.generate()
    except ImportError:
        if not shutil.which("bpftool"):
            pytest.skip("no vmlinux.h generator")
        return subprocess.run(["bpftool", "btf", "dump", "file", vmlinux.VMLINUX_BTF, "format", "c"],
                              check=True, capture_output=True, text=True).stdout


@pytest.fixture
def fast_vmlinux(vmlinux_text, monkeypatch):
    calls = []

    def gen(path):
        calls.append(path)
        return vmlinux_text

    monkeypatch.setattr(vmlinux, "override", ("test-gen-1", gen))
    return calls


def _is_bpf_elf(obj: bytes) -> bool:
    return obj[:4] == b"\x7fELF" and int.from_bytes(obj[18:20], "little") == ELF_BPF


def _no_spawn(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the compiler was run on a warm cache")

    monkeypatch.setattr(driver, "_run", boom)
    monkeypatch.setattr(toolchain, "_run_probe", boom)
    monkeypatch.setattr(subprocess, "run", boom)
    monkeypatch.setattr(subprocess, "Popen", boom)


@pytest.mark.parametrize("cc", COMPILERS)
def test_cold_then_warm(cc, monkeypatch):
    obj = compile(HELLO, compiler=cc)
    assert _is_bpf_elf(obj) and not obj.cached and obj.command and obj.warnings == ()
    assert f"-D__TARGET_ARCH_{toolchain.target_arch()}" in obj.command
    _no_spawn(monkeypatch)
    again = compile(HELLO, compiler=cc)
    assert again.cached and bytes(again) == bytes(obj) and again.compiler == obj.compiler


def test_zig_objects_match_clang_target_semantics():
    if "zig" not in COMPILERS:
        pytest.skip("ziglang not installed")
    src = HELLO.replace("int counter = 0;", "struct big { long a[8]; };\n"
                        "void *memset(void *, int, unsigned long);\nint counter = 0;\n"
                        "SEC(\"xdp\") int z(struct big *p) { struct big b; memset(&b, 0, sizeof(b));"
                        " b.a[1] = p->a[0]; __builtin_memcpy(p, &b, sizeof(b)); return 0; }")
    obj = compile(src, compiler="zig")
    assert b".eh_frame" not in obj  # no unwind tables
    # memset/memcpy are inlined (hosted, builtins on), never left as calls to nowhere
    assert b"memset" not in obj


def test_warm_in_fresh_process_runs_nothing(tmp_path, cache_dir):
    """A wrapper compiler logs every invocation: a warm compile in a new process must log none."""
    real = shutil.which("clang-19") or ""
    cmd = f'exec "{real}" "$@"' if real else f'exec "{toolchain.zig_path()}" cc "$@"'
    if not real and "zig" not in COMPILERS:
        pytest.skip("no compiler")
    log = tmp_path / "calls.log"
    cc = tmp_path / "cc-wrapper"
    cc.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n{cmd}\n')
    cc.chmod(0o755)
    prog = tmp_path / "p.bpf.c"
    prog.write_text(HELLO)
    script = ("import sys; from pathlib import Path; from pybpf.compile import compile; "
              f"o = compile(Path({str(prog)!r})); print(o.cached)")
    env = {**os.environ, "PYBPF_CC": str(cc), "PYTHONPATH": str(Path(driver.__file__).parents[2])}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False" and log.read_text()
    log.write_text("")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    assert log.read_text() == "", "warm compile ran the compiler (or probed it)"


def test_corrupt_entries_are_recompiled(cache_dir, monkeypatch):
    obj = compile(HELLO)
    (entry,) = glob.glob(str(cache_dir / "obj" / "*.entry"))
    raw = Path(entry).read_bytes()
    for bad in (raw[:-7], raw[:-1] + bytes([raw[-1] ^ 0xFF]), b"garbage", b""):
        Path(entry).write_bytes(bad)
        again = compile(HELLO)
        assert not again.cached and bytes(again) == bytes(obj)
        assert compile(HELLO).cached  # rewritten whole
    assert not [p for p in os.listdir(cache_dir / "obj") if not p.endswith(".entry")]  # no temp leftovers


def test_included_header_edit_invalidates(tmp_path):
    (tmp_path / "local.h").write_text("#define RET 1\n")
    src = tmp_path / "x.bpf.c"
    src.write_text('#include <bpf/bpf_helpers.h>\n#include "local.h"\nSEC("xdp") int f(void *c) { return RET; }\n')
    a = compile(src)
    assert compile(src).cached
    (tmp_path / "local.h").write_text("#define RET 2\n")
    b = compile(src)
    assert not b.cached and bytes(a) != bytes(b)
    assert compile(src).cached
    os.utime(tmp_path / "local.h", ns=(1, 1))  # touched, same content: still a hit (content hash)
    assert compile(src).cached


def test_key_covers_flags_defines_and_include_dirs(tmp_path):
    src = '#include <bpf/bpf_helpers.h>\n#include "v.h"\nSEC("xdp") int f(void *c) { return N * 10 + V; }\n'
    for i in (1, 2):
        (tmp_path / f"d{i}").mkdir()
        (tmp_path / f"d{i}" / "v.h").write_text(f"#define V {i}\n")
    objs = [compile(src, defines={"N": n}, include_dirs=[tmp_path / f"d{i}"]) for n in (3, 4) for i in (1, 2)]
    assert len({bytes(o) for o in objs}) == 4
    o1 = compile(src, defines={"N": 3}, include_dirs=[tmp_path / "d1"])
    o2 = compile(src, defines={"N": 3}, include_dirs=[tmp_path / "d1"], cflags=["-O1"])
    assert o1.cached and not o2.cached


def test_cache_can_be_disabled(cache_dir, monkeypatch):
    compile(HELLO, cache=False)
    assert not (cache_dir / "obj").exists()
    monkeypatch.setenv("PYBPF_COMPILE_CACHE", "0")
    assert not compile(HELLO).cached and not compile(HELLO).cached
    assert not (cache_dir / "obj").exists()


@pytest.mark.parametrize("cc", COMPILERS)
def test_error_in_text_source_is_in_user_coordinates(cc):
    bad = HELLO.replace("counter++;", "counter++;\n        return undefined_thing;")
    for kw, name in (({}, "<string>"), ({"filename": "tools/hello.bpf.c"}, "tools/hello.bpf.c")):
        with pytest.raises(CompileError) as ei:
            compile(bad, compiler=cc, **kw)
        e = ei.value
        assert str(e).startswith(f"{name}:8:16: error: use of undeclared identifier 'undefined_thing'")
        assert e.lineno == 8 and e.column == 16 and e.filename == name
        assert "pybpf-cc-" not in e.output  # no scratch paths leak
    with pytest.raises(CompileError):  # failures are not cached
        compile(bad, compiler=cc)


def test_error_in_file_and_header_keeps_their_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("inc.h").write_text("int broken(void) { return nope; }\n")
    Path("p.bpf.c").write_text('#include "inc.h"\nint ok;\n')
    with pytest.raises(CompileError) as ei:
        compile(Path("p.bpf.c"))
    assert str(ei.value).startswith("In file included from p.bpf.c:1:\n./inc.h:1:27: error: use of undeclared")
    assert ei.value.lineno == 1 and ei.value.filename == "./inc.h"


def test_unreadable_source():
    with pytest.raises(CompileError, match="cannot read"):
        compile(Path("/nonexistent/x.bpf.c"))


def test_warnings_do_not_raise_and_survive_the_cache():
    src = HELLO.replace("counter++;", "counter++;\n        int unused_var;")
    obj = compile(src, cflags=["-Wall"])
    (w,) = obj.warnings
    assert w.severity == "warning" and w.line == 8 and "unused variable 'unused_var'" in w.message
    assert str(w).startswith("<string>:8:")
    again = compile(src, cflags=["-Wall"])
    assert again.cached and again.warnings == obj.warnings


def test_progress_hook_on_slow_compile(monkeypatch):
    monkeypatch.setattr(driver, "_SLOW", 0.0)
    seen: list[str] = []
    compile(HELLO, progress=seen.append)
    for _ in range(100):  # the notice comes from a timer thread
        if seen:
            break
        import time
        time.sleep(0.01)
    assert seen and "compiling <string>" in seen[0]
    seen.clear()
    compile(HELLO, progress=seen.append)  # warm: nothing to report
    assert seen == []


def test_compile_file_writes_object(tmp_path):
    src = tmp_path / "minimal.bpf.c"
    src.write_text(HELLO)
    out = compile_file(src)
    assert out == tmp_path / "minimal.bpf.o" and _is_bpf_elf(out.read_bytes())
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    out2 = compile_file(str(src), tmp_path / "o" / "x.o")
    assert out2.read_bytes() == out.read_bytes()


def test_quote_includes_of_text_source_resolve_next_to_filename(tmp_path):
    (tmp_path / "inc.h").write_text("#define V 7\n")
    obj = compile('#include "inc.h"\nint v = V;\n', filename=str(tmp_path / "prog.bpf.c"))
    assert _is_bpf_elf(obj)
    with pytest.raises(CompileError, match="'inc.h' file not found"):
        compile('#include "inc.h"\nint v = V;\n', filename="elsewhere/prog.bpf.c")


def test_prune_keeps_newest(cache_dir):
    for i in range(4):
        compile(HELLO + f"int v{i};\n")
    assert len(os.listdir(cache_dir / "obj")) == 4
    store.prune(keep=2)
    assert len(os.listdir(cache_dir / "obj")) == 2


# ---------------------------------------------------------------------- vmlinux.h

VMLINUX_PROG = textwrap.dedent("""\
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_core_read.h>
    SEC("tp/sched/sched_process_exec")
    int on_exec(struct trace_event_raw_sched_process_exec *ctx)
    {
        struct task_struct *t = (void *)bpf_get_current_task();
        return BPF_CORE_READ(t, real_parent, tgid) + ctx->pid;
    }
    char LICENSE[] SEC("license") = "GPL";
    """)


def test_vmlinux_generated_once_and_tracked(fast_vmlinux, cache_dir, monkeypatch):
    obj = compile(VMLINUX_PROG)
    assert _is_bpf_elf(obj) and len(fast_vmlinux) == 1
    (hdr,) = glob.glob(str(cache_dir / "vmlinux" / "*-test-gen-1" / "vmlinux.h"))
    assert "__VMLINUX_H__" in Path(hdr).read_text()
    compile(VMLINUX_PROG.replace("GPL", "Dual BSD/GPL"))
    assert len(fast_vmlinux) == 1  # generated once, reused
    assert compile(VMLINUX_PROG).cached
    # a new generator (or kernel) invalidates objects built against the old header
    monkeypatch.setattr(vmlinux, "override", ("test-gen-2", vmlinux.override[1]))
    again = compile(VMLINUX_PROG)
    assert not again.cached and len(fast_vmlinux) == 2


def test_vmlinux_included_from_a_header(fast_vmlinux, tmp_path):
    (tmp_path / "common.h").write_text('#include "vmlinux.h"\n')
    src = tmp_path / "p.bpf.c"
    src.write_text(VMLINUX_PROG.replace('#include "vmlinux.h"', '#include "common.h"'))
    assert _is_bpf_elf(compile(src)) and len(fast_vmlinux) == 1


def test_users_own_vmlinux_h_wins(fast_vmlinux, tmp_path, cache_dir):
    (tmp_path / "vmlinux.h").write_text("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n"
                                        "typedef unsigned int u32;\nstruct mine { u32 x; };\n#endif\n")
    obj = compile('#include <vmlinux.h>\nstruct mine m;\n', include_dirs=[tmp_path])
    assert _is_bpf_elf(obj) and fast_vmlinux == [] and not (cache_dir / "vmlinux").exists()


@pytest.mark.skipif(not HAVE_BTF, reason="kernel without BTF")
def test_real_generator_and_btf_hash(cache_dir):
    pytest.importorskip("pybpf.btf.cdump")
    h = vmlinux.btf_hash()
    assert h and len(h) == 40 and vmlinux.btf_hash() == h
    assert vmlinux.generator_id().startswith("cdump-")
    d = vmlinux.ensure_header()
    assert Path(d, "vmlinux.h").stat().st_size > 100_000
    assert os.path.basename(d) == f"{h}-{vmlinux.generator_id()}"


def test_unwritable_cache_still_compiles(fast_vmlinux, monkeypatch, tmp_path):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the per-process fallback copy goes here
    monkeypatch.setattr(vmlinux, "_fallback", {})
    monkeypatch.setenv("PYBPF_CACHE_DIR", "/proc/pybpf-unwritable")
    assert not compile(HELLO).cached and not compile(HELLO).cached
    assert _is_bpf_elf(compile(VMLINUX_PROG)) and len(fast_vmlinux) == 1
    assert _is_bpf_elf(compile(VMLINUX_PROG + "int more;\n")) and len(fast_vmlinux) == 1  # temp copy reused


def test_str_naming_an_existing_c_file_is_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("p.bpf.c").write_text(HELLO)
    assert bytes(compile("p.bpf.c")) == bytes(compile(Path("p.bpf.c")))
    with pytest.raises(CompileError, match="<string>:1:"):
        compile("missing.bpf.c")
