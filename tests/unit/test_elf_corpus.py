"""Third-party object corpus: every object of vbpf/ebpf-samples through ``pybpf.open()``.

tests/data/ebpf-samples.tar.xz holds 156 BPF objects built by other projects
and toolchains (Linux samples/bpf, Cilium, cilium/ebpf examples, Falco,
Suricata, OVS, prototype-kernel, the Prevail verifier's own samples and two
deliberately malformed ones); see tests/data/ebpf-samples.README.md. Parsing is
pure (no kernel). Each object must either yield an :class:`pybpf.ObjectSpec`
(whose programs, maps, variables and global-data views are then exercised) or
raise a :class:`pybpf.Error` subclass with a message naming what is
unsupported; never another exception, never more than ``TIME_BOUND`` seconds.

``python3 tests/unit/test_elf_corpus.py`` prints the summary (specs vs typed
errors, by category); ``--load`` (as root) also tries ``spec.load()`` on the
objects that parse, for information.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import re
import signal
import sys
import tarfile
import threading
import time
from typing import Iterator

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

import pybpf  # noqa: E402
from pybpf.errors import Error  # noqa: E402

TARBALL = os.path.join(os.path.dirname(__file__), "..", "data", "ebpf-samples.tar.xz")
PREFIX = "ebpf-samples/"
TIME_BOUND = 20.0  # seconds per object (the slowest takes ~0.3 s)
N_OBJECTS = 156

#: Objects that parse into an ObjectSpec today: a typed error on one of these is a regression.
EXPECTED_SPECS = frozenset("""
build/badhelpercall.o build/byteswap.o build/correlated_branch.o build/ctxoffset.o build/dependent_read.o
build/exposeptr.o build/exposeptr2.o build/global_variable.o build/global_variable_2.o build/map_in_map.o
build/map_in_map_anonymous.o build/map_in_map_typedef.o build/mapoverflow.o build/mapunderflow.o
build/mapvalue-overrun.o build/packet_access.o build/packet_overflow.o build/packet_start_ok.o
build/ptr_arith.o build/ringbuf_in_map.o build/ringbuf_uninit.o build/stackok.o build/store_map_value_in_map.o
build/twomaps.o build/twomaps_btf.o build/twostackvars.o build/twotypes.o build/wronghelper.o
cilium-core/bpf_sock.o
cilium-examples/cgroup_skb_bpf_bpfel.o cilium-examples/fentry_bpf_bpfel.o cilium-examples/kprobe_bpf_bpfel.o
cilium-examples/kprobe_percpu_bpf_bpfel.o cilium-examples/kprobepin_bpf_bpfel.o
cilium-examples/ringbuffer_bpf_bpfel.o cilium-examples/tcprtt_bpf_bpfel.o
cilium-examples/tcprtt_sockops_bpf_bpfel.o cilium-examples/tcx_bpf_bpfel.o
cilium-examples/tracepoint_in_c_bpf_bpfel.o cilium-examples/uretprobe_bpf_x86_bpfel.o
cilium-examples/xdp_bpf_bpfel.o
invalid/invalid-lddw.o
new_linux/trace_output_kern.o new_linux/tracex1_kern.o new_linux/tracex2_kern.o new_linux/tracex3_kern.o
new_linux/tracex4_kern.o new_linux/tracex6_kern.o new_linux/tracex7_kern.o
""".split())

#: (category, pattern of the error message): what each typed error says is unsupported.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("code without STT_FUNC symbols (old clang: one program per section)", r"no STT_FUNC symbol"),
    ("legacy 'maps' definitions with extra (iproute2) fields", r"unrecognized extra bytes in struct bpf_map_def"),
    ("legacy map relocation into 'maps/<name>' sections", r"bad map relo against"),
    ("unknown SEC() name", r"unknown program section"),
    ("static entry program", r"is static; entry programs must be global"),
    ("unsupported map pinning value", r"invalid pinning value"),
    ("extern without BTF / DATASEC", r"failed to find BTF"),
    ("prog array slot initialised with a non-entry function", r"isn't a valid program reference"),
    ("not a BPF object (e_machine)", r"not a BPF object"),
    ("malformed ELF", r"malformed|bad symbol table entry size|past end of file"),
)


@functools.lru_cache(maxsize=1)
def corpus() -> dict[str, bytes]:
    """{path relative to the corpus root: object bytes}, read once from the tarball."""
    out: dict[str, bytes] = {}
    with tarfile.open(TARBALL, "r:xz") as tf:
        for m in tf.getmembers():
            if m.isfile() and m.name.endswith(".o") and m.name.startswith(PREFIX):
                f = tf.extractfile(m)
                assert f is not None
                out[m.name[len(PREFIX):]] = f.read()
    return dict(sorted(out.items()))


def names() -> list[str]:
    if not os.path.exists(TARBALL):
        return []
    return list(corpus())


def category(err: BaseException) -> str:
    msg = str(err)
    for cat, pat in CATEGORIES:
        if re.search(pat, msg):
            return cat
    return f"other {type(err).__name__}"


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so no ``except Exception`` in pybpf swallows it."""


@contextlib.contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (SIGALRM; only in the main thread, else unbounded)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):  # noqa: ARG001
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def parse(rel: str) -> "pybpf.ObjectSpec | Error":
    """The spec of object ``rel``, or the typed error pybpf raised; fails on anything else."""
    data = corpus()[rel]
    name = os.path.basename(rel).split(".", 1)[0]
    t0 = time.monotonic()
    try:
        with time_bound(TIME_BOUND):
            return pybpf.open(data, name=name)
    except Error as e:
        return e
    except _Timeout:
        pytest.fail(f"{rel}: pybpf.open() did not finish within {TIME_BOUND} s")
    except Exception as e:  # noqa: BLE001 - exactly what the test forbids
        import traceback

        pytest.fail(f"{rel}: unhandled {type(e).__name__} after {time.monotonic() - t0:.2f} s: {e}\n"
                    + traceback.format_exc())


def exercise(rel: str, spec: "pybpf.ObjectSpec") -> None:
    """Touch everything a user reads from a spec: programs, maps, variables, views, copy."""
    with time_bound(TIME_BOUND):
        repr(spec)
        for p in spec.programs.values():
            assert p.name and p.section
            for ins in p.instructions or ():
                str(ins)
        for m in spec.maps.values():
            repr(m)
        for var in spec.variables.values():
            try:
                var.value
            except Error:
                pass  # e.g. a type the view cannot decode: typed, fine
        for key, m in spec.maps.items():
            if m.internal and spec._datasec(key) is not None:  # noqa: SLF001
                view = spec.section(key)
                if hasattr(view, "to_dict"):
                    try:
                        view.to_dict()
                    except Error:
                        pass
        spec.copy()


@pytest.mark.skipif(not os.path.exists(TARBALL), reason="tests/data/ebpf-samples.tar.xz missing")
def test_corpus_complete():
    objs = corpus()
    assert len(objs) == N_OBJECTS
    assert len({os.path.dirname(k) for k in objs}) == 11
    assert EXPECTED_SPECS <= set(objs)


@pytest.mark.parametrize("rel", names())
def test_open(rel):
    got = parse(rel)
    if isinstance(got, Error):
        assert str(got).strip(), f"{rel}: {type(got).__name__} without a message"
        assert rel not in EXPECTED_SPECS, f"{rel}: regression, it used to parse: {type(got).__name__}: {got}"
        assert not category(got).startswith("other"), f"{rel}: uncategorised error {type(got).__name__}: {got}"
        return
    assert isinstance(got, pybpf.ObjectSpec)
    exercise(rel, got)


@pytest.mark.skipif(not os.path.exists(TARBALL), reason="tests/data/ebpf-samples.tar.xz missing")
def test_open_is_deterministic_and_path_equivalent(tmp_path):
    """Parsing a path and the same bytes gives the same programs/maps (a sample of the corpus)."""
    for rel in ("cilium-core/bpf_sock.o", "cilium-examples/tcx_bpf_bpfel.o", "new_linux/tracex2_kern.o"):
        p = tmp_path / os.path.basename(rel)
        p.write_bytes(corpus()[rel])
        a = pybpf.open(str(p))
        b = pybpf.open(corpus()[rel], name=a.name)
        assert sorted(a.programs) == sorted(b.programs)
        assert sorted(a.maps) == sorted(b.maps)
        for k in a.programs:
            assert a.programs[k].instructions == b.programs[k].instructions


# ---------------------------------------------------------------------- report (not a test)
def summary(load: bool = False) -> str:
    ok: list[str] = []
    cats: collections.Counter[str] = collections.Counter()
    lines = []
    for rel in corpus():
        data = corpus()[rel]
        try:
            spec = pybpf.open(data, name=os.path.basename(rel).split(".", 1)[0])
        except Error as e:
            cats[category(e)] += 1
            lines.append(f"  typed  {rel}: {type(e).__name__}: {str(e)[:110]}")
            continue
        ok.append(rel)
        lines.append(f"  spec   {rel}: {len(spec.programs)} programs, {len(spec.maps)} maps")
    out = [f"{len(corpus())} objects: {len(ok)} ObjectSpecs, {sum(cats.values())} typed errors"]
    out += [f"  {n:4}  {c}" for c, n in cats.most_common()]
    if load:
        res: collections.Counter[str] = collections.Counter()
        for rel in ok:
            spec = pybpf.open(corpus()[rel], name=os.path.basename(rel).split(".", 1)[0])
            if not spec.programs:
                res["no entry programs"] += 1
                continue
            try:
                with spec.load():
                    res["loaded"] += 1
                    lines.append(f"  LOADED {rel}")
            except Error as e:
                res[f"load failed: {type(e).__name__}"] += 1
                lines.append(f"  FAILED {rel}: {type(e).__name__}: {str(e)[:110]}")
        out.append("spec.load() of the ObjectSpecs: " + ", ".join(f"{k} {v}" for k, v in res.most_common()))
    return "\n".join(out + lines)


if __name__ == "__main__":
    print(summary(load="--load" in sys.argv))
