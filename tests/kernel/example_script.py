"""Running an example as a script and reading its output line by line (shared by the
libbpf-style and BCC-style example tests)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


class Script:
    """An example run as a script (``python3 <path> ...``), stdout read line by line."""

    def __init__(self, path: str | Path, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.p = subprocess.Popen([sys.executable, str(path), *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self) -> None:
        for line in self.p.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def next_match(self, pattern: str, timeout: float) -> re.Match | None:
        """The next line matching ``pattern`` within ``timeout`` seconds, else None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                self._q.put(None)
                return None
            self.lines.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        return None

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        m = self.next_match(pattern, timeout)
        if m is None:
            rc, out, err = self.stop()
            pytest.fail(f"no line matching {pattern!r} (exit status {rc}); output:\n{out}\nstderr:\n{err}")
        return m

    def until_seen(self, make: "callable", pattern_of: "callable", tries: int = 10, wait: float = 2.0) -> re.Match:
        """Make traffic (``make()`` -> token) until a line matching ``pattern_of(token)`` shows up."""
        for _ in range(tries):
            token = make()
            m = self.next_match(pattern_of(token), wait)
            if m is not None:
                return m
        rc, out, err = self.stop()
        pytest.fail(f"no line for {pattern_of(token)!r} after {tries} tries (exit {rc}); output:\n{out}\n{err}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str, str]:
        if self.p.poll() is None:
            self.p.send_signal(sig)
        rc = self.p.wait(timeout)
        self._t.join(timeout)
        while True:
            try:
                line = self._q.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        err = self.p.stderr.read()
        self.p.stdout.close()
        self.p.stderr.close()
        return rc, "\n".join(self.lines), err
