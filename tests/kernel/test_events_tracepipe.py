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
