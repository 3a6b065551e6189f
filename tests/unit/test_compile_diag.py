"""pybpf.compile diagnostics parsing, error construction, dependency files, toolchain bits (no compiler run)."""

from __future__ import annotations

import pytest

from pybpf.compile import diag, driver, toolchain
from pybpf.errors import CompileError

OUTPUT = """\
In file included from <string>:2:
prog.h:3:5: warning: unused variable 'x' [-Wunused-variable]
    3 | int x;
      |     ^
<string>:7:12: error: use of undeclared identifier 'y'
    7 |     return y;
      |            ^
<string>:7:12: note: did you mean 'z'?
<string>:9:1: error: expected '}'
1 warning and 2 errors generated.
"""


def test_parse_groups_excerpts_notes_and_include_context():
    ds = diag.parse(OUTPUT)
    assert [(d.severity, d.file, d.line, d.column) for d in ds] == [
        ("warning", "prog.h", 3, 5), ("error", "<string>", 7, 12), ("error", "<string>", 9, 1)]
    w, e1, e2 = ds
    assert w.text.startswith("In file included from <string>:2:\nprog.h:3:5: warning:")
    assert "^" in w.text and w.message == "unused variable 'x' [-Wunused-variable]"
    assert "note: did you mean 'z'?" in e1.text and "return y;" in e1.text
    assert str(e2) == "<string>:9:1: error: expected '}'"
    assert e1.location() == "<string>:7:12: "


def test_make_error_message_in_user_coordinates():
    err = diag.make_error(OUTPUT, ["cc", "x.c"], 1)
    assert isinstance(err, CompileError)
    assert str(err).startswith("<string>:7:12: error: use of undeclared identifier 'y'\n    7 |     return y;")
    assert "(1 more error; see .output)" in str(err)
    assert err.lineno == 7 and err.column == 12 and err.filename == "<string>"
    assert err.output == OUTPUT
    assert [str(w).splitlines()[1] for w in err.warnings] == ["prog.h:3:5: warning: unused variable 'x' [-Wunused-variable]"]
    assert err.command == ["cc", "x.c"] and err.returncode == 1
    assert len(err.diagnostics) == 3


def test_make_error_without_locations():
    err = diag.make_error('error: unknown clang option: "-fno-such"\n', ["cc"], 1)
    assert str(err) == 'error: unknown clang option: "-fno-such"' and err.lineno is None
    err = diag.make_error("Segmentation fault\n", ["cc"], -11)
    assert "exit status -11" in str(err) and "Segmentation fault" in str(err)
    err = diag.make_error("clang: error: no such file or directory: 'x.c'\n", ["cc"], 1)
    assert err.diagnostics[0].file is None and "no such file" in str(err)


def test_fatal_error_counts_as_error():
    (d,) = diag.parse("<string>:1:10: fatal error: 'nope.h' file not found\n    1 | #include \"nope.h\"\n")
    assert d.severity == "error" and d.line == 1 and d.column == 10


def test_rewrite_paths_longest_first():
    out = diag.rewrite_paths("/tmp/a/b.c:1:1: error: x\n/tmp/a/b.c.h:2:2: note\n",
                             {"/tmp/a/b.c": "<string>", "/tmp/a/b.c.h": "hdr.h"})
    assert out == "<string>:1:1: error: x\nhdr.h:2:2: note\n"


def test_parse_deps_continuations_and_escapes():
    text = "/s/out.o: /s/x.bpf.c /inc/a\\ b.h \\\n  /inc/c$$d.h \\\n /usr/x.h\n"
    assert driver._parse_deps(text, "/s/out.o") == ["/s/x.bpf.c", "/inc/a b.h", "/inc/c$d.h", "/usr/x.h"]


@pytest.mark.parametrize("machine,arch", [("x86_64", "x86"), ("aarch64", "arm64"), ("arm64", "arm64"),
                                          ("riscv64", "riscv"), ("s390x", "s390"), ("x86", "x86")])
def test_target_arch(machine, arch):
    assert toolchain.target_arch(machine) == arch


def test_target_arch_unknown():
    with pytest.raises(CompileError, match="unknown target architecture"):
        toolchain.target_arch("pdp11")


def test_compiler_flags():
    z = toolchain.Compiler("zig", ("/z/zig", "cc"), "zig 0.17 / clang 22", "ziglang", zig_lib="/z/lib")
    c = toolchain.Compiler("clang", ("/usr/bin/clang",), "clang version 19", "PATH")
    assert z.target_flags()[:2] in (["-target", "bpfel-freestanding-none"], ["-target", "bpfeb-freestanding-none"])
    assert "-fhosted" in z.target_flags() and "-fbuiltin" in z.target_flags()
    assert c.target_flags()[0] == "-target" and c.target_flags()[1] in ("bpfel", "bpfeb")
    assert z.identity != c.identity and "clang 22" in z.identity
    flags = driver.base_flags(c, "arm64")
    assert "-D__TARGET_ARCH_arm64" in flags and "-g" in flags and "-O2" in flags and "-mcpu=v3" in flags
    assert z.env("/scratch")["ZIG_GLOBAL_CACHE_DIR"].startswith("/scratch")
    assert all(f in ("-idirafter", "-nostdlibinc") or "linux-" in f for f in c.system_include_flags("x86"))


def test_find_compiler_reports_missing(monkeypatch):
    monkeypatch.setenv("PYBPF_CC", "/nonexistent/cc-xyz")
    with pytest.raises(CompileError, match="not found"):
        toolchain.find_compiler()
    monkeypatch.setenv("PYBPF_CC", "/bin/false")
    with pytest.raises(CompileError, match="does not run"):
        toolchain.find_compiler()
