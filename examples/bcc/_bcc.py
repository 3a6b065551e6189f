"""Shared plumbing for the BCC-style *Learning eBPF* examples (not an example itself).

Every example is ``main(argv) -> int`` and uses:

* :func:`run` — root check, SIGTERM turned into Ctrl-C, pybpf errors printed as one
  line (no traceback) with an optional hint, exit status;
* :func:`add_limits` / :class:`Until` — ``--seconds N`` and ``--count N``: stop after N
  seconds or N events (default: until Ctrl-C), for scripted runs and tests;
* :func:`attach_execve` — the book attaches its chapter 2/4 programs with a kprobe on
  the execve syscall; kernels without kprobes (``CONFIG_KPROBES`` unset) have the
  syscall tracepoint ``syscalls:sys_enter_execve``, which fires at the same place.
  ``--attach auto`` (default) picks the kprobe when the kernel has kprobes, else the
  tracepoint; ``--attach kprobe`` insists (and fails with pybpf's NotSupportedError
  naming the alternative);
* :class:`Printk` / :func:`trace_lines` — ``bpf_trace_printk`` output. By default from
  the kernel's shared ``trace_pipe`` through BCC's ``b.trace_readline()`` (what
  ``b.trace_print()`` does), as the book does. That file has one reader at a time on
  recent kernels (a second ``open`` fails with EBUSY) and a line read by one reader is
  gone for the others, so when it is busy — or with ``--trace-instance`` — the lines come
  from a private tracefs instance instead (``pybpf.events.TraceInstance``: its own copy of
  every ``bpf_trace_printk`` line on the system), removed on exit.

The examples run from a checkout (``examples/_common.py`` falls back to ``../src``) or
with pybpf installed.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import _common as C  # noqa: E402  (also makes `import pybpf` work from a checkout)

from pybpf.errors import Error, NotSupportedError  # noqa: E402

Usage = C.Usage
EXECVE_TP = "syscalls:sys_enter_execve"


# ------------------------------------------------------------------ running
def run(prog: str, needs: str, body: Callable[[], int], hint: str = "") -> int:
    """Run ``body`` as root; pybpf errors become one line on stderr (``hint`` appended to
    NotSupportedError messages), Ctrl-C/SIGTERM a clean exit."""
    if os.geteuid() != 0:
        print(f"{prog}: must run as root ({needs}); try: sudo python3 examples/bcc/{prog}", file=sys.stderr)
        return 1
    old = None
    try:
        old = signal.signal(signal.SIGTERM, _sigterm)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted, detached and cleaned up", flush=True)
        return 130
    except Usage as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except NotSupportedError as e:
        print(f"{prog}: NotSupportedError: {e}" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 1
    except (Error, OSError, subprocess.SubprocessError) as e:
        print(f"{prog}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _sigterm(signum: int, frame: Any) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


# ------------------------------------------------------------------ limits
def add_limits(ap: argparse.ArgumentParser, what: str = "events") -> None:
    ap.add_argument("--seconds", type=float, metavar="N", help="stop after N seconds (default: until Ctrl-C)")
    ap.add_argument("--count", type=int, metavar="N", help=f"stop after N {what} (default: until Ctrl-C)")


class Until:
    """``--seconds`` / ``--count`` bookkeeping: :meth:`hit` per event, :meth:`done`, :meth:`left`."""

    def __init__(self, seconds: Optional[float], count: Optional[int]) -> None:
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.count = count
        self.n = 0

    def hit(self, n: int = 1) -> None:
        self.n += n

    def done(self) -> bool:
        if self.count is not None and self.n >= self.count:
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline

    def left(self, cap: float = 1.0) -> float:
        """Seconds to wait for the next event: at most ``cap``, never past the deadline."""
        if self.deadline is None:
            return cap
        return max(0.0, min(cap, self.deadline - time.monotonic()))

    def left_ms(self, cap: float = 1.0) -> int:
        return int(self.left(cap) * 1000)


# ------------------------------------------------------------------ execve attach
def add_attach(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--attach", choices=("auto", "kprobe", "tracepoint"), default="auto",
                    help="kprobe on the execve syscall as in the book, the syscall tracepoint "
                         f"{EXECVE_TP}, or auto: the kprobe when the kernel has kprobes (default)")


def attach_execve(b: Any, fn_name: str, how: str) -> str:
    """Attach ``fn_name`` where execve() is entered; returns a description of the attach point."""
    from pybpf import links

    if how == "auto":
        how = "kprobe" if links.kprobes_available()[0] else "tracepoint"
        note = "" if how == "kprobe" else " (this kernel has no kprobes: the syscall tracepoint instead)"
    else:
        note = ""
    if how == "kprobe":
        syscall = b.get_syscall_fnname("execve").decode()
        b.attach_kprobe(event=syscall, fn_name=fn_name)
        return f"kprobe {syscall}"
    b.attach_tracepoint(tp=EXECVE_TP, fn_name=fn_name)
    return f"tracepoint {EXECVE_TP}{note}"


# ------------------------------------------------------------------ trace_pipe
def add_trace(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--trace-instance", action="store_true",
                    help="read bpf_trace_printk lines from a private tracefs instance instead of the shared "
                         "trace_pipe (the default falls back to one when trace_pipe is busy)")


class Printk:
    """Where an example reads ``bpf_trace_printk`` lines (see the module docstring); context manager."""

    def __init__(self, b: Any, prog: str, private: bool = False) -> None:
        self.b = b
        self.inst: Any = None
        self.pipe: Any = None
        self.where = "trace_pipe"
        if not private:
            try:
                b.trace_open()
                return
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                print(f"{prog}: trace_pipe is busy (another reader has it open): reading bpf_trace_printk "
                      "lines from a private tracefs instance instead", file=sys.stderr, flush=True)
        from pybpf.events import TraceInstance

        self.inst = TraceInstance(f"pybpf-bcc-{prog.removesuffix('.py')}-{os.getpid()}")
        self.pipe = self.inst.pipe()
        self.where = f"tracefs instance {self.inst.name}"

    def readline(self, timeout: float) -> bytes:
        """The next line (trace_pipe's format, no newline), or b"" after ``timeout`` seconds."""
        if self.pipe is None:
            return self.b.trace_readline(timeout=timeout)
        t = self.pipe.readline(timeout)
        if t is None:
            return b""
        if not t.parsed:
            return t.message.encode()
        return (f"{t.task:>16}-{t.pid:<7} [{t.cpu:03d}] {t.flags} {t.timestamp:.6f}: {t.event}: "
                f"{t.message}").encode()

    def close(self) -> None:
        if self.inst is not None:
            self.inst.close()
            self.inst = self.pipe = None

    def __enter__(self) -> "Printk":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def trace_lines(printk: Printk, until: Until, match: Optional[bytes] = None) -> None:
    """BCC's ``b.trace_print()``: print the lines as they come, until ``until`` is done.

    Every ``bpf_trace_printk`` on the system shows up: lines containing ``match`` (all
    lines if None) count towards ``--count``.
    """
    while not until.done():
        line = printk.readline(until.left())
        if not line:
            continue
        print(line.decode("utf-8", "replace"), flush=True)
        if match is None or match in line:
            until.hit()
