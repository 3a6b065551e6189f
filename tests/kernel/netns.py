"""Network-namespace and cgroup fixtures for the network attach tests.

Everything here is created by the test and removed afterwards, even on failure:

* :func:`netns` — one namespace ``pybpf-<random>`` (``ip netns add``) with ``lo`` up;
* :func:`veth_pair` — two namespaces joined by a veth pair with addresses in
  ``10.200.X.0/30`` (only inside those namespaces) and static neighbour entries,
  so the first packet needs no ARP;
* :func:`in_netns` — run a block with the calling thread in a namespace (setns);
* :func:`temp_cgroup` — a cgroup v2 directory under the cgroup2 mount;
* :func:`run_child` — a Python child process placed in a cgroup and/or netns
  (the test process itself never moves between cgroups).

Teardown checks ``ip netns list`` so a leaked namespace fails the test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import subprocess
import sys
import textwrap
import uuid
from typing import Iterator

import pytest

from pybpf._sys.fs import find_cgroup2
from pybpf._sys.netlink import in_netns  # noqa: F401  (re-exported for the tests)

PREFIX = "pybpf-"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command (``ip``, ``tc``...), raising with its stderr on failure."""
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def ip(*args: str, netns: str | None = None) -> str:
    cmd = ["ip"] + (["-n", netns] if netns else []) + list(args)
    return sh(*cmd).stdout


def netns_names() -> set[str]:
    out = sh("ip", "netns", "list").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@contextlib.contextmanager
def netns(prefix: str = PREFIX) -> Iterator[str]:
    """A fresh network namespace (lo up); deleted on exit."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    ip("netns", "add", name)
    try:
        ip("link", "set", "lo", "up", netns=name)
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)
        assert name not in netns_names(), f"network namespace {name} survived teardown"


@dataclasses.dataclass
class VethPair:
    """Two namespaces ``ns_a``/``ns_b`` joined by ``dev_a`` <-> ``dev_b``."""

    ns_a: str
    ns_b: str
    dev_a: str
    dev_b: str
    ip_a: str
    ip_b: str
    mac_a: str
    mac_b: str


@contextlib.contextmanager
def veth_pair() -> Iterator[VethPair]:
    """Two namespaces with a veth pair between them, 10.200.X.1/30 <-> 10.200.X.2/30."""
    x = random.randrange(256)
    with netns() as a, netns() as b:
        ip("link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", netns=a)
        ip("link", "set", "veth-b", "netns", b, netns=a)
        p = VethPair(a, b, "veth-a", "veth-b", f"10.200.{x}.1", f"10.200.{x}.2", "02:00:0a:c8:00:01",
                     "02:00:0a:c8:00:02")
        for ns, dev, addr, mac in ((a, p.dev_a, p.ip_a, p.mac_a), (b, p.dev_b, p.ip_b, p.mac_b)):
            ip("link", "set", dev, "address", mac, netns=ns)
            ip("addr", "add", f"{addr}/30", "dev", dev, netns=ns)
            ip("link", "set", dev, "up", netns=ns)
        ip("neigh", "replace", p.ip_b, "lladdr", p.mac_b, "dev", p.dev_a, "nud", "permanent", netns=a)
        ip("neigh", "replace", p.ip_a, "lladdr", p.mac_a, "dev", p.dev_b, "nud", "permanent", netns=b)
        yield p


@contextlib.contextmanager
def temp_cgroup(prefix: str = "pybpf-test-") -> Iterator[str]:
    """A cgroup v2 directory (its processes are moved back to the root and it is removed on exit)."""
    root = find_cgroup2()
    path = os.path.join(root, f"{prefix}{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            with open(os.path.join(path, "cgroup.procs")) as f:
                pids = [ln.strip() for ln in f if ln.strip()]
            for pid in pids:
                with contextlib.suppress(OSError), open(os.path.join(root, "cgroup.procs"), "w") as f:
                    f.write(pid)
        os.rmdir(path)


_CHILD_PRELUDE = """
import os, socket, sys, errno, json, time
_cg = os.environ.get("PYBPF_CGROUP")
if _cg:
    with open(os.path.join(_cg, "cgroup.procs"), "w") as _f:
        _f.write(str(os.getpid()))
_ns = os.environ.get("PYBPF_NETNS")
if _ns:
    _fd = os.open(_ns if "/" in _ns else "/run/netns/" + _ns, os.O_RDONLY)
    import ctypes
    if ctypes.CDLL(None, use_errno=True).setns(_fd, 0x40000000) != 0:
        raise OSError(ctypes.get_errno(), "setns")
    os.close(_fd)
"""


def run_child(code: str, *, cgroup: str | None = None, netns: str | None = None, timeout: float = 20) -> str:
    """Run ``code`` in a fresh Python process inside ``cgroup`` / ``netns``; returns its stdout.

    The child writes its own pid to ``cgroup.procs`` before running ``code``, so only
    it (never the test process) is confined. A non-zero exit fails the test.
    """
    env = dict(os.environ)
    env.pop("PYBPF_CGROUP", None)
    env.pop("PYBPF_NETNS", None)
    if cgroup:
        env["PYBPF_CGROUP"] = cgroup
    if netns:
        env["PYBPF_NETNS"] = netns
    r = subprocess.run([sys.executable, "-c", _CHILD_PRELUDE + textwrap.dedent(code)], capture_output=True,
                       text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        pytest.fail(f"child failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


@pytest.fixture
def ns() -> Iterator[str]:
    """One test network namespace (lo up)."""
    with netns() as name:
        yield name


@pytest.fixture
def veth() -> Iterator[VethPair]:
    """Two test network namespaces joined by a veth pair."""
    with veth_pair() as p:
        yield p


@pytest.fixture
def cgroup() -> Iterator[str]:
    """A temporary cgroup v2 directory."""
    with temp_cgroup() as path:
        yield path
