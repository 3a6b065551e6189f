"""Closed objects raise ClosedError (a ValueError) naming the object; pins are removed with
``obj.unpin()`` (the path recorded by ``pin()``) on maps, programs and links alike."""

from __future__ import annotations

import os

import pytest

import pybpf
from pybpf import Map, MapType, Program, ProgramType, asm
from pybpf.asm import R0
from pybpf.errors import ClosedError, Error, NotFoundError
from pybpf.links import tracing

RET0 = [asm.mov(R0, 0), asm.exit_()]


@pytest.fixture
def bpffs_path():
    from pybpf._sys.fs import ensure_bpffs

    ensure_bpffs()
    path = f"/sys/fs/bpf/pybpf_unpin_{os.getpid()}"
    yield path
    if os.path.lexists(path):
        os.unlink(path)


# ------------------------------------------------------------------ closed objects
def test_closed_program_raises_closed_error():
    p = Program.load(ProgramType.SOCKET_FILTER, RET0, name="closed_p")
    p.close()
    for use in (lambda: p.fd, p.fileno, lambda: p.test_run(bytes(64)), lambda: p.id, p.info):
        with pytest.raises(ClosedError, match="program 'closed_p' is closed"):
            use()
    with pytest.raises(ValueError):  # still a ValueError, as before
        p.fd
    assert issubclass(ClosedError, pybpf.Error) and pybpf.ClosedError is ClosedError


def test_closed_program_attach_raises_closed_error():
    p = Program.load(ProgramType.TRACEPOINT, RET0)
    p.close()
    with pytest.raises(ClosedError, match="program is closed"):
        p.attach_tracepoint("syscalls", "sys_enter_getpid")


def test_closed_map_raises_closed_error():
    m = Map.create(MapType.ARRAY, 4, 4, 1, name="closed_m")
    m.close()
    with pytest.raises(ClosedError, match="map 'closed_m' is closed"):
        m.fd


def test_closed_link_raises_closed_error():
    with Program.load(ProgramType.TRACEPOINT, RET0) as p:
        lk = tracing.attach_tracepoint(p, "syscalls", "sys_enter_getpid")
        lk.close()
        for use in (lambda: lk.fd, lk.fileno, lk.info, lambda: lk.id):
            with pytest.raises(ClosedError, match="link tracepoint syscalls/sys_enter_getpid is closed"):
                use()
        with pytest.raises(ClosedError, match="perf_info: link .* is closed"):
            lk.perf_info()


def test_raw_fd_closed_error():
    from pybpf._sys.syscall import FD

    fd = FD(os.dup(0))
    fd.close()
    with pytest.raises(ClosedError, match="file descriptor is closed"):
        fd.fd


# ------------------------------------------------------------------------- unpin
@pytest.mark.parametrize("kind", ["map", "prog"])
def test_instance_unpin_removes_recorded_pin(kind, bpffs_path):
    obj = Map.create(MapType.ARRAY, 4, 4, 1) if kind == "map" else Program.load(ProgramType.XDP, RET0)
    with obj:
        assert obj.pinned_path is None
        obj.unpin()  # nothing pinned: no-op (as Link.unpin)
        obj.pin(bpffs_path)
        assert obj.pinned_path == bpffs_path and os.path.exists(bpffs_path)
        obj.unpin()
        assert obj.pinned_path is None and not os.path.lexists(bpffs_path)
        obj.unpin()  # again: no-op


def test_class_level_unpin_by_path_still_works(bpffs_path):
    with Map.create(MapType.ARRAY, 4, 4, 1) as m:
        m.pin(bpffs_path)
        Map.unpin(bpffs_path)
        assert not os.path.lexists(bpffs_path)
    with Program.load(ProgramType.XDP, RET0) as p:
        p.pin(bpffs_path)
        p.unpin(bpffs_path)  # explicit path on an instance
        assert not os.path.lexists(bpffs_path) and p.pinned_path is None


def test_unpin_errors_are_typed(bpffs_path, tmp_path):
    with pytest.raises(NotFoundError, match="nothing is pinned there"):
        Program.unpin(bpffs_path)
    victim = tmp_path / "not_a_pin"
    victim.write_text("keep me")
    with Map.create(MapType.ARRAY, 4, 4, 1) as m, pytest.raises(Error, match="not on a BPF filesystem"):
        m.unpin(str(victim))
    assert victim.read_text() == "keep me"


def test_link_unpin_takes_the_same_arguments(bpffs_path):
    with Program.load(ProgramType.RAW_TRACEPOINT, RET0) as p, tracing.attach_raw_tracepoint(p, "sys_enter") as lk:
        lk.pin(bpffs_path)
        lk.unpin(bpffs_path)
        assert not os.path.lexists(bpffs_path) and lk.pinned_path is None
        with pytest.raises(NotFoundError):
            lk.unpin(bpffs_path)
