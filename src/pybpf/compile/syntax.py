"""Front-end passes: clang's JSON AST of a source, turned into text by the caller, through the cache.

Source-to-source rewriters (:mod:`pybpf.bcc`'s kernel-pointer reads) need the
types and source ranges clang sees. :func:`ast_transform` runs the compiler's
clang on the source with the same flags a :func:`~pybpf.compile.compile` would
use plus ``-fsyntax-only -Xclang -ast-dump=json -Xclang -ast-dump-filter=...``,
hands the JSON to the caller's ``transform`` and caches what it returns, keyed
like a compile (source, flags, compiler, headers) plus the caller's ``tag``:
a warm call runs no process.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union

from pybpf.errors import CompileError

from . import store, vmlinux
from .driver import Source, _dep_meta, _deps_valid, _Job, _parse_deps, _source_name
from .toolchain import find_compiler, target_arch

__all__ = ["ast_transform", "ast_decls", "Transform"]

#: ``transform(json_text, ast_path)``: ``ast_path`` is the file name clang saw (the ``file``
#: of the source's own locations in the JSON); returns the text to cache, None to cache nothing.
Transform = Callable[[str, str], Optional[str]]


def ast_decls(text: str) -> Iterator[dict[str, Any]]:
    """The top-level declarations of an ``-ast-dump=json`` output (one JSON object per
    declaration that matched ``-ast-dump-filter``), in order."""
    dec = json.JSONDecoder()
    i, n = 0, len(text)
    while True:
        while i < n and text[i] != "{":
            i += 1
        if i >= n:
            return
        obj, i = dec.raw_decode(text, i)
        yield obj


def ast_transform(source: Source, transform: Transform, *, tag: str, dump_filter: str,
                  cflags: Sequence[str] = (), include_dirs: Iterable[Union[str, os.PathLike]] = (),
                  defines: Optional[Mapping[str, object]] = None, filename: Optional[str] = None,
                  compiler: Optional[str] = None, arch: Optional[str] = None,
                  cache: Optional[bool] = None) -> Optional[str]:
    """``transform`` of clang's JSON AST of ``source`` (declarations whose name contains
    ``dump_filter``), cached under ``tag`` (which must change whenever ``transform`` does).

    Arguments are those of :func:`~pybpf.compile.compile`. Returns None without caching
    when ``transform`` does; raises :class:`~pybpf.errors.CompileError` with clang's
    diagnostics when clang rejects the source.
    """
    cc = find_compiler(compiler)
    job = _Job(source, cflags, include_dirs, defines, filename, cc, target_arch(arch))
    use_cache = store.enabled() if cache is None else cache
    key = f"ast-{tag}-{job.key()}"
    if use_cache:
        entry = store.load(key)
        if entry is not None and _deps_valid(entry.meta):
            return entry.obj.decode("utf-8", "surrogateescape")
    scratch = tempfile.mkdtemp(prefix="pybpf-ast-")
    try:
        if job.path is None:
            src = os.path.join(scratch, _source_name(job.display))
            with open(src, "wb") as f:
                f.write(job.data)
        else:
            src = job.path
        vdir = vmlinux.ensure_header() if job.want_vmlinux else None
        flags = [f.replace("@SCRATCH@", scratch) for f in job.flags[len(cc.target_flags()):]]
        if vdir:
            flags += ["-idirafter", vdir]
        dep = os.path.join(scratch, "out.d")
        argv = [*cc.frontend_argv(), *flags, "-fsyntax-only", "-Xclang", "-ast-dump=json",
                "-Xclang", f"-ast-dump-filter={dump_filter}", "-MD", "-MF", dep, "-MT", "out.o", src]
        rc, out, err = _run_split(argv, cc.env(scratch))
        if rc != 0:
            raise CompileError(f"clang rejected the source ({rc})", output=err)
        result = transform(out, src)
        if result is None:
            return None
        if use_cache:
            try:
                with open(dep, errors="surrogateescape") as f:
                    deps = _parse_deps(f.read(), "out.o")
            except OSError:
                return result
            store.save(key, store.Entry(result.encode("utf-8", "surrogateescape"), _dep_meta(job, deps, src, vdir)))
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_split(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run clang: (exit status, standard output (the JSON), diagnostics)."""
    import subprocess

    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           text=True, errors="surrogateescape", stdin=subprocess.DEVNULL)
    except OSError as e:
        raise CompileError(f"cannot run the compiler {argv[0]!r}: {e}") from None
    return p.returncode, p.stdout, p.stderr
