"""The compile driver: command line, cache lookup, running the compiler, dependency tracking."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shlex
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union

from pybpf.errors import CompileError

from . import diag, store, vmlinux
from .diag import Diagnostic
from .toolchain import Compiler, find_compiler, target_arch

__all__ = ["compile", "compile_file", "CompiledObject", "include_dir", "base_flags", "slow_notice", "command_line"]


def _log():  # logging is imported only when something is logged
    import logging

    return logging.getLogger("pybpf.compile")


Source = Union[str, bytes, "os.PathLike[str]"]
Progress = Callable[[str], None]

_FORMAT = "pybpf-compile-2"
_SLOW = 1.0  # seconds before a progress notice
_VMLINUX_INCLUDE = re.compile(rb'^\s*#\s*include\s*[<"]vmlinux\.h[>"]', re.M)
_VMLINUX_MISSING = re.compile(r"'vmlinux\.h' file not found")


class CompiledObject(bytes):
    """The ELF object produced by :func:`compile` (a ``bytes``), with details.

    ``warnings``: compiler warnings (:class:`~pybpf.compile.Diagnostic`);
    ``cached``: True if it came from the cache without running the compiler;
    ``compiler``: the compiler's identity; ``command``: the command line used
    (empty when cached).
    """

    warnings: tuple[Diagnostic, ...]
    cached: bool
    compiler: str
    command: tuple[str, ...]

    def __new__(cls, data: bytes, *, warnings: Sequence[Diagnostic] = (), cached: bool = False,
                compiler: str = "", command: Sequence[str] = ()) -> "CompiledObject":
        self = super().__new__(cls, data)
        self.warnings = tuple(warnings)
        self.cached = cached
        self.compiler = compiler
        self.command = tuple(command)
        return self


def include_dir() -> Path:
    """pybpf's own BPF headers (``bpf/bpf_helpers.h`` & co.), for use with an external compiler."""
    return Path(__file__).resolve().parent / "include"


@functools.lru_cache(maxsize=1)
def _headers_digest() -> str:
    h = hashlib.blake2b(digest_size=16)
    root = include_dir()
    for p in sorted(root.rglob("*.h")):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


@contextlib.contextmanager
def slow_notice(progress: Optional[Progress], message: str, delay: Optional[float] = None) -> Iterator[None]:
    """Report ``message`` (to ``progress``, else the ``pybpf.compile`` logger at INFO)
    if the block takes longer than ``delay`` seconds. ``progress`` runs on a timer thread."""
    def fire() -> None:
        try:
            (progress or _log().info)(message)
        except Exception:  # a failing progress hook must not break the compile
            _log().debug("progress hook failed", exc_info=True)

    t = threading.Timer(_SLOW if delay is None else delay, fire)
    t.daemon = True
    t.start()
    try:
        yield
    finally:
        t.cancel()


def base_flags(compiler: Compiler, arch: str) -> list[str]:
    """Flags every compile gets, before the user's: target, CO-RE-friendly codegen, diagnostics."""
    return [
        *compiler.target_flags(),
        "-O2", "-g",                       # BTF and CO-RE relocations need -g; the verifier wants -O2 code
        "-mcpu=v3",                        # jmp32/alu32 (kernel 5.1+); clang < 20 defaults to v1
        f"-D__TARGET_ARCH_{arch}",         # bpf_tracing.h's PT_REGS_* for the probed architecture
        "-fno-stack-protector",
        "-fno-unwind-tables", "-fno-asynchronous-unwind-tables",
        "-fno-color-diagnostics", "-fdiagnostics-show-option",
        "-Wno-unused-command-line-argument",
        "-Wno-compare-distinct-pointer-types",  # data + off > data_end idioms mix pointer types
    ]


def _define_flags(defines: Optional[Mapping[str, object]]) -> list[str]:
    out = []
    for name, val in (defines or {}).items():
        out.append(f"-D{name}" if val is None or val is True else f"-D{name}={val}")
    return out


def _user_has_vmlinux(dirs: Iterable[str]) -> bool:
    return any(os.path.isfile(os.path.join(d, "vmlinux.h")) for d in dirs)


def _parse_deps(text: str, target: str) -> list[str]:
    """Prerequisites from a make-style ``-MD`` file (backslash-newline continuations, ``\\ `` escapes)."""
    text = text.replace("\\\r\n", " ").replace("\\\n", " ")
    i = text.find(target + ":")
    body = text[i + len(target) + 1:] if i >= 0 else text.split(":", 1)[-1]
    deps, cur, j = [], [], 0
    while j < len(body):
        c = body[j]
        if c == "\\" and j + 1 < len(body) and body[j + 1] in " #\\":
            cur.append(body[j + 1])
            j += 2
            continue
        if c == "$" and body[j + 1:j + 2] == "$":
            cur.append("$")
            j += 2
            continue
        if c.isspace():
            if cur:
                deps.append("".join(cur))
                cur = []
        else:
            cur.append(c)
        j += 1
    if cur:
        deps.append("".join(cur))
    return deps


def _deps_valid(meta: dict) -> bool:
    tok = meta.get("vmlinux")
    if tok:
        h = vmlinux.btf_hash()
        if h is None or tok != f"{h}-{vmlinux.generator_id()}":
            return False
    for dep in meta.get("deps", ()):
        try:
            path, size, mtime, digest = dep
            st = os.stat(path)
        except (OSError, ValueError, TypeError):
            return False
        if st.st_size == size and st.st_mtime_ns == mtime:
            continue
        if store.file_digest(path) != digest:
            return False
    return True


def _run(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the compiler; (exit status, combined output). The only place a compile spawns."""
    import subprocess

    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           text=True, errors="replace", stdin=subprocess.DEVNULL)
    except OSError as e:
        raise CompileError(f"cannot run the compiler {argv[0]!r}: {e}") from None
    return p.returncode, p.stdout


class _Job:
    """One compile request, normalized."""

    def __init__(self, source: Source, cflags: Sequence[str], include_dirs: Iterable[Union[str, os.PathLike]],
                 defines: Optional[Mapping[str, object]], filename: Optional[str],
                 compiler: Compiler, arch: str) -> None:
        self.compiler = compiler
        self.cwd = os.getcwd()
        if isinstance(source, str) and "\n" not in source and source.endswith(".c") and os.path.isfile(source):
            source = Path(source)  # a file name (no C program is just "x.bpf.c")
        if isinstance(source, os.PathLike):
            self.path: Optional[str] = os.fspath(source)
            try:
                with open(self.path, "rb") as f:
                    self.data = f.read()
            except OSError as e:
                raise CompileError(f"cannot read {self.path}: {e.strerror}") from None
            self.display = filename or self.path
            src_dir = os.path.dirname(os.path.abspath(self.path))
        else:
            self.path = None
            self.data = source.encode() if isinstance(source, str) else bytes(source)
            self.display = filename or "<string>"
            src_dir = os.path.dirname(os.path.abspath(filename)) if filename else self.cwd
        self.incs = [os.path.abspath(os.fspath(d)) for d in include_dirs]
        self.want_vmlinux = bool(_VMLINUX_INCLUDE.search(self.data)) and not _user_has_vmlinux([src_dir, *self.incs])
        self.flags = base_flags(compiler, arch)
        if self.path is None:
            self.flags += ["-iquote", src_dir, "-ffile-prefix-map=@SCRATCH@/="]
        for d in self.incs:
            self.flags += ["-I", d]
        ours = str(include_dir())
        self.flags += ["-isystem", ours, "-idirafter", os.path.join(ours, "bpf")]
        self.flags += compiler.system_include_flags(arch)
        self.flags += _define_flags(defines)
        self.flags += [str(f) for f in cflags]

    def key(self) -> str:
        h = hashlib.blake2b(digest_size=20)
        for part in (_FORMAT, self.compiler.identity, "\0".join(self.flags), str(self.want_vmlinux), self.display,
                     self.path or "", self.cwd, _headers_digest()):
            h.update(part.encode("utf-8", "surrogateescape") + b"\0")
        h.update(self.data)
        return h.hexdigest()

    def argv(self, scratch: str, src: str, vmlinux_dir: Optional[str]) -> list[str]:
        flags = [f.replace("@SCRATCH@", scratch) for f in self.flags]
        if vmlinux_dir:
            flags += ["-idirafter", vmlinux_dir]
        out, dep = os.path.join(scratch, "out.o"), os.path.join(scratch, "out.d")
        return [*self.compiler.argv, *flags, "-MD", "-MF", dep, "-c", src, "-o", out]


def _source_name(display: str) -> str:
    base = os.path.basename(display) if display != "<string>" else ""
    base = re.sub(r"[^\w.+-]", "_", base)
    return base if base.endswith(".c") else (base or "source") + ".bpf.c"


def _build(job: _Job, progress: Optional[Progress]) -> tuple[bytes, dict, str, list[str]]:
    import shutil
    import tempfile

    scratch = tempfile.mkdtemp(prefix="pybpf-cc-")
    try:
        if job.path is None:
            src = os.path.join(scratch, _source_name(job.display))
            with open(src, "wb") as f:
                f.write(job.data)
            renames = {src: job.display}
        else:
            src, renames = job.path, {}
        env = job.compiler.env(scratch)
        vdir = vmlinux.ensure_header(progress) if job.want_vmlinux else None
        argv = job.argv(scratch, src, vdir)
        with slow_notice(progress, f"compiling {job.display} with {job.compiler.kind} "
                                   f"({job.compiler.version}); later builds come from the cache"):
            rc, out = _run(argv, env)
            if rc != 0 and vdir is None and _VMLINUX_MISSING.search(out):
                vdir = vmlinux.ensure_header(progress)  # included from a header: now we know
                argv = job.argv(scratch, src, vdir)
                rc, out = _run(argv, env)
        out = diag.rewrite_paths(out, renames)
        if rc != 0:
            raise diag.make_error(out, argv, rc)
        try:
            with open(os.path.join(scratch, "out.o"), "rb") as f:
                obj = f.read()
            with open(os.path.join(scratch, "out.d"), errors="surrogateescape") as f:
                deps = _parse_deps(f.read(), os.path.join(scratch, "out.o"))
        except OSError as e:
            raise CompileError(f"compiler reported success but produced no object: {e}", output=out) from None
        return obj, _dep_meta(job, deps, src, vdir), out, argv
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _dep_meta(job: _Job, deps: list[str], src: str, vdir: Optional[str]) -> dict:
    ours = str(include_dir()) + os.sep
    main = os.path.realpath(src)
    recs, used_vmlinux = [], False
    for d in deps:
        p = os.path.abspath(os.path.join(job.cwd, d))
        if os.path.realpath(p) == main or p.startswith(ours):
            continue  # the source is in the key, and so is a digest of our headers
        if vdir and p.startswith(vdir + os.sep):
            used_vmlinux = True
            continue
        try:
            st = os.stat(p)
        except OSError:
            continue
        recs.append([p, st.st_size, st.st_mtime_ns, store.file_digest(p)])
    tok = os.path.basename(vmlinux.header_dir()) if used_vmlinux else None  # "<btf hash>-<generator>"
    return {"deps": recs, "vmlinux": tok}


def compile(source: Source, *, cflags: Sequence[str] = (), include_dirs: Iterable[Union[str, os.PathLike]] = (),
            defines: Optional[Mapping[str, object]] = None, filename: Optional[str] = None,
            compiler: Optional[str] = None, arch: Optional[str] = None, cache: Optional[bool] = None,
            progress: Optional[Progress] = None) -> CompiledObject:
    """Compile BPF C to an ELF object (bytes), through the cache.

    ``source``: C text (``str``/``bytes``) or a path (``pathlib.Path``/``os.PathLike``,
    or a one-line ``str`` naming an existing ``.c`` file). ``cflags`` come last on the command line
    (they override the defaults: ``-O2 -g -mcpu=v3 -D__TARGET_ARCH_<host>`` ...);
    ``include_dirs`` are searched before pybpf's own headers; ``defines`` maps macro
    names to values (``None`` for a bare ``-DNAME``). ``filename`` names a text
    source in diagnostics, debug info and BTF line info (default ``<string>``) and
    its directory is searched for ``#include "..."``. ``compiler`` overrides
    ``$PYBPF_CC`` (``"zig"``, ``"clang"`` or a command); ``arch`` the probed
    architecture (``platform.machine()`` name or ``x86``/``arm64``/...); ``cache=False``
    bypasses the cache (``PYBPF_COMPILE_CACHE=0`` for all calls). ``progress(msg)`` is
    called (from a timer thread) when compiling or generating vmlinux.h takes over
    about a second; without it the message goes to the ``pybpf.compile`` logger.

    ``#include "vmlinux.h"`` is served from a header generated from the running
    kernel's BTF, unless the source's directory or ``include_dirs`` has one.

    Raises :class:`~pybpf.errors.CompileError` with the compiler's diagnostics.
    """
    cc = find_compiler(compiler)
    job = _Job(source, cflags, include_dirs, defines, filename, cc, target_arch(arch))
    use_cache = store.enabled() if cache is None else cache
    key = job.key()
    if use_cache:
        entry = store.load(key)
        if entry is not None and _deps_valid(entry.meta):
            warns = diag.warnings_of(diag.parse(entry.meta.get("output", "")))
            return CompiledObject(entry.obj, warnings=warns, cached=True, compiler=cc.identity)
    obj, meta, out, argv = _build(job, progress)
    warns = diag.warnings_of(diag.parse(out))
    for w in warns:
        _log().info("%s", w)
    if use_cache:
        meta["output"] = out
        store.save(key, store.Entry(obj, meta))
    return CompiledObject(obj, warnings=warns, cached=False, compiler=cc.identity, command=argv)


def compile_file(path: Union[str, os.PathLike], output: Union[str, os.PathLike, None] = None,
                 **kwargs: object) -> Path:
    """Compile the C file ``path`` to ``output`` (default: ``x.bpf.c`` -> ``x.bpf.o``); returns the output path.

    Keyword arguments are those of :func:`compile`. The object is written atomically.
    """
    src = Path(path)
    obj = compile(src, **kwargs)  # type: ignore[arg-type]
    if output is None:
        output = src.with_suffix(".o") if src.suffix == ".c" else src.with_name(src.name + ".o")
    out = Path(output)
    if not store.atomic_write(str(out.absolute()), bytes(obj)):
        raise CompileError(f"cannot write {out}")
    try:
        os.chmod(out, 0o644)
    except OSError:
        pass
    return out


def command_line(source_path: str, output: str, *, compiler: Optional[str] = None,
                 arch: Optional[str] = None) -> str:
    """The shell command pybpf would run for ``source_path`` (for build systems and debugging)."""
    cc = find_compiler(compiler)
    ours = str(include_dir())
    flags = [*base_flags(cc, target_arch(arch)), "-isystem", ours, "-idirafter", os.path.join(ours, "bpf"),
             *cc.system_include_flags(target_arch(arch))]
    return shlex.join([*cc.argv, *flags, "-c", source_path, "-o", output])
