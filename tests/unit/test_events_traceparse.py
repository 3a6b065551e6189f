"""trace_pipe line parsing and the TracePipe reader over a FIFO (no kernel)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from pybpf.events import TracePipe, parse_trace_line

LINES = [
    ("           <...>-1234    [001] d..31  1234.567890: bpf_trace_printk: hello world",
     ("<...>", 1234, 1, "d..31", 1234.56789, "hello world", "bpf_trace_printk", None)),
    ("         python3-19067   [000] ...11  2248.338757: bpf_trace_printk: pybpf-hello 42",
     ("python3", 19067, 0, "...11", 2248.338757, "pybpf-hello 42", "bpf_trace_printk", None)),
    # comm with dashes and digits, record-tgid column, message containing ': '
    (" kworker/u4:2-my-12-77 (    70) [003] .N.1.   5.000001: bpf_trace_printk: a: b: c",
     ("kworker/u4:2-my-12", 77, 3, ".N.1.", 5.000001, "a: b: c", "bpf_trace_printk", 70)),
    # no irq-info flags column, empty message, tgid unknown
    ("  sh-5 (-------) [002]   7.5: bpf_trace_printk: ",
     ("sh", 5, 2, "", 7.5, "", "bpf_trace_printk", None)),
    ("   app-1 [000] ....  10.000000: some_event: x=1\n",
     ("app", 1, 0, "....", 10.0, "x=1", "some_event", None)),
]


@pytest.mark.parametrize("line,expect", LINES)
def test_parse(line, expect):
    t = parse_trace_line(line)
    assert (t.task, t.pid, t.cpu, t.flags, t.timestamp, t.message, t.event, t.tgid) == expect
    assert t.parsed


def test_unparsable_lines_are_kept_raw():
    t = parse_trace_line("CPU:1 [LOST 12 EVENTS]")
    assert not t.parsed and t.pid == -1 and t.message == "CPU:1 [LOST 12 EVENTS]"


@pytest.fixture
def fifo(tmp_path):
    path = str(tmp_path / "trace_pipe")
    os.mkfifo(path)
    tp = TracePipe(path, timeout=0.05)
    w = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    yield tp, w
    tp.close()
    os.close(w)


def test_reader_timeouts_partial_lines_and_iteration(fifo):
    tp, w = fifo
    t0 = time.monotonic()
    assert tp.readline(0.05) is None and time.monotonic() - t0 >= 0.04
    assert tp.read_available() == []
    os.write(w, LINES[0][0].encode() + b"\n\n" + LINES[1][0].encode()[:20])  # a partial line stays buffered
    got = tp.read_available()
    assert [g.pid for g in got] == [1234]
    os.write(w, LINES[1][0].encode()[20:] + b"\n")
    assert tp.readline(1).pid == 19067
    os.write(w, b"".join(ln.encode() + b"\n" for ln, _ in LINES[2:]))
    assert [x.pid for x in tp] == [77, 5, 1]  # iteration ends after the idle timeout


def test_blocking_readline_and_wait_for(fifo):
    tp, w = fifo

    def later():
        time.sleep(0.05)
        os.write(w, LINES[0][0].encode() + b"\n" + LINES[1][0].encode() + b"\n")

    t = threading.Thread(target=later)
    t.start()
    line = tp.wait_for(lambda ln: ln.pid == 19067, timeout=5)
    t.join()
    assert line is not None and line.message == "pybpf-hello 42"
    assert tp.wait_for(lambda ln: True, timeout=0.02) is None
