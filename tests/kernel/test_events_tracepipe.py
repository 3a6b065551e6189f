"""bpf_printk lines through tracefs: trace_pipe() and private TraceInstance buffers."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

import pybpf
from pybpf.events import TraceInstance, TracePipe, trace_pipe
from pybpf.events import _producers as P

RUN = dict(repeat=0, ctx_out_size=0)


def tag() -> str:
    return "pybpf-" + uuid.uuid4().hex[:8]


def test_printk_line_parsed_from_instance():
    msg = tag()
    with TraceInstance(msg) as inst, inst.pipe() as tp, P.printk_program(msg) as prog:
        assert os.path.isdir(inst.path)
        prog.test_run(ctx=P.producer_ctx(42, 0), **RUN)
        line = tp.wait_for(lambda ln: ln.message.startswith(msg), timeout=5)
        assert line is not None, "no bpf_printk line in the instance buffer"
        assert line.message == f"{msg} 42"
        assert line.pid == threading.get_native_id() == os.getpid()
        assert line.event == "bpf_trace_printk" and line.timestamp > 0 and line.cpu >= 0
        assert tp.readline(timeout=0.05) is None
    assert not os.path.exists(inst.path)


def test_two_instances_both_get_the_line():
    msg = tag()
    with TraceInstance(msg + "a") as a, TraceInstance(msg + "b") as b, a.pipe() as pa, \
            trace_pipe(b.name) as pb, P.printk_program(msg) as prog:
        prog.test_run(ctx=P.producer_ctx(7, 0), **RUN)
        for p in (pa, pb):
            line = p.wait_for(lambda ln: ln.message.startswith(msg), timeout=5)
            assert line is not None and line.message == f"{msg} 7"
        pb.close()


def test_printk_line_on_top_level_pipe_from_a_thread():
    msg = tag()
    with trace_pipe(timeout=5) as tp, P.printk_program(msg) as prog:
        tids = []

        def run():
            tids.append(threading.get_native_id())
            for i in range(3):
                prog.test_run(ctx=P.producer_ctx(i, 0), **RUN)

        t = threading.Thread(target=run)
        t.start()
        t.join()
        # other tools may read the shared pipe too: accept any of the three lines
        line = tp.wait_for(lambda ln: ln.message.startswith(msg), timeout=5)
        assert line is not None and line.pid == tids[0] and line.task
        assert line.message in {f"{msg} {i}" for i in range(3)}


def test_timeouts_and_iteration_end():
    with TraceInstance(tag()) as inst:
        with inst.pipe(timeout=0.05) as tp:
            assert list(tp) == []
            assert tp.readline(0) is None and tp.read_available() == []
            assert isinstance(tp, TracePipe) and tp.fileno() >= 0
        with pytest.raises(pybpf.Error, match="closed"):
            tp.fileno()
    with pytest.raises(pybpf.Error, match="no tracefs instance"):
        trace_pipe("pybpf-does-not-exist")


# ----------------------------------------------- TraceInstance: typed errors, own state only
def _enable_file(inst_path: str) -> str:
    return os.path.join(inst_path, "events", "bpf_trace", "bpf_trace_printk", "enable")


@pytest.fixture
def foreign_instance():
    """An instance created by "someone else" (not by TraceInstance); removed afterwards."""
    from pybpf._sys.fs import find_tracefs

    path = os.path.join(find_tracefs(), "instances", tag())
    os.mkdir(path)
    yield path
    if os.path.isdir(path):
        os.rmdir(path)


def test_invalid_instance_name_is_a_pybpf_error():
    for bad in ("", "a/b", ".", ".."):
        with pytest.raises(pybpf.Error, match="invalid trace instance name"):
            TraceInstance(bad)


def test_reused_instance_keeps_what_it_did_not_enable(foreign_instance):
    name = os.path.basename(foreign_instance)
    with open(_enable_file(foreign_instance), "w") as f:
        f.write("1")
    with TraceInstance(name) as inst:
        assert not inst.created and inst.enabled_here == []
    assert os.path.isdir(foreign_instance)
    with open(_enable_file(foreign_instance)) as f:
        assert f.read(1) == "1", "TraceInstance disabled an event it did not enable"


def test_reused_instance_disables_what_it_enabled(foreign_instance):
    name = os.path.basename(foreign_instance)
    with TraceInstance(name) as inst:
        assert inst.enabled_here == ["bpf_trace/bpf_trace_printk"]
        with open(_enable_file(foreign_instance)) as f:
            assert f.read(1) == "1"
    assert os.path.isdir(foreign_instance)  # not ours to remove
    with open(_enable_file(foreign_instance)) as f:
        assert f.read(1) == "0"


def test_busy_instance_is_reported_not_silently_left():
    inst = TraceInstance(tag())
    other = os.open(os.path.join(inst.path, "trace_pipe"), os.O_RDONLY | os.O_NONBLOCK)  # another reader
    try:
        with pytest.warns(RuntimeWarning, match=f"{inst.path} left in place.*rmdir"):
            inst.close()
        assert os.path.isdir(inst.path)
        with open(_enable_file(inst.path)) as f:
            assert f.read(1) == "0"  # at least stops collecting
    finally:
        os.close(other)
        os.rmdir(inst.path)


def test_missing_event_is_a_clear_error_and_leaves_nothing():
    name = tag()
    with pytest.raises(pybpf.Error, match="trace event nosuch/event does not exist"):
        TraceInstance(name, events=("nosuch/event",))
    from pybpf._sys.fs import find_tracefs

    assert not os.path.exists(os.path.join(find_tracefs(), "instances", name))


def test_closed_instance_and_missing_pipe_are_typed():
    inst = TraceInstance(tag())
    inst.close()
    with pytest.raises(pybpf.ClosedError, match="is closed"):
        inst.pipe()
    with pytest.raises(pybpf.NotFoundError, match="trace_pipe"):
        TracePipe("/nonexistent/trace_pipe")


def test_instance_mkdir_failures_are_typed(tmp_path):
    with pytest.raises(pybpf.NotSupportedError, match="tracefs instances"):
        TraceInstance("x", tracefs=str(tmp_path / "no_tracefs"))
    (tmp_path / "instances").write_text("a file, not a directory")
    with pytest.raises(pybpf.BPFError, match="mkdir .*instances/x") as ei:
        TraceInstance("x", tracefs=str(tmp_path))
    assert not isinstance(ei.value, pybpf.NotSupportedError)
