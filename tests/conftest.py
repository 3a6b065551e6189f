"""Shared fixtures: kernel tests need root; every kernel test checks it leaks nothing."""

from __future__ import annotations

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))


def pytest_collection_modifyitems(config, items):  # noqa: ARG001
    for item in items:
        if "/kernel/" in str(item.fspath):
            item.add_marker(pytest.mark.kernel)


def _ids():
    from pybpf.introspect import ids

    return {k: ids(k) for k in ("prog", "map", "link")}


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _not_someone_elses(leaked: dict) -> dict:
    """Drop ids that another live process holds fds to (the id space is kernel-wide, so a
    concurrent tool's objects are not our leak); objects nobody holds, or we hold, stay."""
    from pybpf.pids import obj_refs

    me = os.getpid()
    out = {}
    for kind, objs in leaked.items():
        refs = obj_refs(kind)
        mine = [i for i in objs if not refs.get(i) or any(r.pid == me for r in refs[i])]
        if mine:
            out[kind] = mine
    return out


@pytest.fixture(autouse=True)
def _no_leaks(request):
    """Kernel tests: the kernel's prog/map/link id sets and our fds are unchanged afterwards."""
    if request.node.get_closest_marker("kernel") is None:
        yield
        return
    if os.geteuid() != 0:
        pytest.fail("kernel tests need root (CI runs them as root)")
    import gc

    gc.collect()
    before, fds = _ids(), _fds()
    yield
    gc.collect()
    # Programs are freed by the kernel after an RCU grace period and a work item, and only
    # then drop their map references: give deferred frees a moment before calling it a leak
    # (on a loaded machine that moment can take seconds; a real leak only costs this wait).
    deadline = time.monotonic() + 20
    while True:
        after, fds_after = _ids(), _fds()
        leaked = {k: sorted(after[k] - before[k]) for k in after if after[k] - before[k]}
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    if leaked:
        leaked = _not_someone_elses(leaked)
    assert not leaked, f"kernel objects leaked: {leaked}"
    extra = sorted(fds_after - fds, key=int)
    extra = [f for f in extra if os.path.exists(f"/proc/self/fd/{f}")]
    assert not extra, f"file descriptors leaked: {[(f, os.readlink(f'/proc/self/fd/{f}')) for f in extra]}"
