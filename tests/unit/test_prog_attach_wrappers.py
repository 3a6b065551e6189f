"""Program.attach_* delegates keep the signatures of the functions they call (no drift), and
declare concrete return types."""

from __future__ import annotations

import inspect
import typing

import pytest

from pybpf.prog import Program

TARGETS = {
    "attach": ("tracing", "auto_attach"),
    "attach_tracepoint": ("tracing", "attach_tracepoint"),
    "attach_raw_tracepoint": ("tracing", "attach_raw_tracepoint"),
    "attach_tp_btf": ("tracing", "attach_tp_btf"),
    "attach_trace": ("tracing", "attach_tracing"),
    "attach_kprobe": ("kprobe", "attach_kprobe"),
    "attach_uprobe": ("uprobe", "attach_uprobe"),
    "attach_usdt": ("usdt", "attach_usdt"),
    "attach_perf_event": ("perf_event", "attach_perf_event"),
    "attach_iter": ("iter", "attach_iter"),
    **{n: ("net", n) for n in ("attach_xdp", "attach_tcx", "attach_tc", "attach_cgroup", "attach_socket",
                               "attach_sk_lookup", "attach_flow_dissector", "attach_sk_skb", "attach_sk_msg",
                               "attach_netfilter")},
}


def _target(mod: str, name: str):
    import importlib

    return getattr(importlib.import_module(f"pybpf.links.{mod}"), name)


def test_every_attach_method_is_covered():
    methods = {n for n in vars(Program) if n.startswith("attach")}
    assert methods == set(TARGETS)


@pytest.mark.parametrize("method", sorted(TARGETS))
def test_wrapper_signature_matches_target(method):
    wrapper = inspect.signature(getattr(Program, method))
    target = inspect.signature(_target(*TARGETS[method]))
    wp = list(wrapper.parameters.values())[1:]  # self
    tp = list(target.parameters.values())[1:]  # prog
    assert [(p.name, p.kind) for p in wp] == [(p.name, p.kind) for p in tp]
    for w, t in zip(wp, tp):
        assert w.default == t.default, f"{method}({w.name}): default {w.default!r} != {t.default!r}"
        assert w.annotation == t.annotation, f"{method}({w.name}): {w.annotation!r} != {t.annotation!r}"
    assert wrapper.return_annotation == target.return_annotation


@pytest.mark.parametrize("method", sorted(TARGETS))
def test_return_types_resolve(method):
    """The TYPE_CHECKING imports name real classes (what a type checker would see)."""
    import pybpf.prog as prog_mod

    ns = dict(vars(prog_mod))
    exec(compile("\n".join(l.strip() for l in inspect.getsource(prog_mod).split("if TYPE_CHECKING:")[1]
                          .split("\n\n")[0].splitlines() if l.strip()), "<tc>", "exec"), ns)
    hints = typing.get_type_hints(getattr(Program, method), globalns=ns)
    assert hints["return"] is not typing.Any
