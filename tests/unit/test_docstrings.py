"""Public API docstrings name the minimum kernel (project standard), and methods are documented."""

from __future__ import annotations

import importlib
import re

import pytest

KERNEL = re.compile(r"\b(Linux )?[3-6]\.\d{1,2}\b")


def _obj(path: str):
    mod, _, attr = path.partition(":")
    obj = importlib.import_module(mod)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return getattr(obj, "fget", obj)


@pytest.mark.parametrize("path", [
    "pybpf.links.kprobe:attach_kprobe", "pybpf.links.kprobe:attach_kretprobe", "pybpf.links.kprobe:attach_ksyscall",
    "pybpf.links.uprobe:attach_uprobe", "pybpf.links.uprobe:attach_uretprobe", "pybpf.links.tracing:attach_tracing",
    "pybpf.links.perf_event:open_perf_link", "pybpf.links.perf_event:perf_link_supported",
    "pybpf.links.usdt:UsdtLink", "pybpf.introspect:maps", "pybpf.introspect:programs", "pybpf.introspect:links",
    "pybpf.introspect:btfs", "pybpf.events.tracepipe:TraceInstance", "pybpf.events.tracepipe:trace_pipe",
    "pybpf.events.tracepipe:TracePipe", "pybpf.links.link:MultiLink", "pybpf.events.perfbuf:PerfBuffer.resume",
    "pybpf.links.iter:IterLink.read_text", "pybpf.introspect:ProgramInfo.from_fd", "pybpf.introspect:MapInfo.from_fd",
    "pybpf.introspect:LinkInfo.from_fd", "pybpf.introspect:BTFInfo.from_fd", "pybpf._kobj:unpin_path",
])
def test_names_minimum_kernel(path):
    doc = _obj(path).__doc__ or ""
    assert KERNEL.search(doc), f"{path}: docstring names no minimum kernel: {doc!r}"


@pytest.mark.parametrize("path", [
    *(f"pybpf.links.link:MultiLink.{m}" for m in ("update", "detach", "info", "pin", "id", "type", "fd", "prog_id")),
    "pybpf.links.link:Link.type", "pybpf.links.link:Link.fileno", "pybpf.links.link:Link.unpin",
    "pybpf.events.tracepipe:TracePipe.close", "pybpf.events.tracepipe:TraceInstance.close",
    "pybpf.events.tracepipe:TracePipe.fileno", "pybpf.prog:Program.fileno", "pybpf.prog:Program.pin",
])
def test_documented(path):
    assert (_obj(path).__doc__ or "").strip(), f"{path} has no docstring"


def test_multilink_docstring_tells_the_truth_about_pin():
    from pybpf.links.link import MultiLink

    doc = MultiLink.__doc__ or ""
    assert "NotSupportedError" in doc and "pin each member" in doc
