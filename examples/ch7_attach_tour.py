#!/usr/bin/env python3
"""Chapter 7 — a tour of program and attach types: one program each, attached, triggered, read back.

Needs: root (CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN), a kernel with BTF.
Per stop: tracepoint (tracefs, CONFIG_FTRACE_SYSCALLS), raw_tp (4.17+),
tp_btf (5.5+), uprobe/uretprobe (CONFIG_UPROBE_EVENTS), perf_event (4.9+),
iter/task (5.8+), xdp (generic mode 4.12+), tc (clsact 4.5+), tcx (6.6+);
kprobe/kretprobe need CONFIG_KPROBES, fentry/fexit need BPF trampolines,
lsm needs trampolines and "bpf" in the active LSMs. Stops the kernel cannot
run are skipped with pybpf's NotSupportedError message.

Every program of ch7/attach-tour.bpf.c is loaded on its own (the other
programs' autoload switched off), attached with the matching pybpf call,
triggered from this process (a syscall, an exec, a libc call, CPU time,
packets) and its counters are read back from the object's .bss. The network
stops run on ``lo`` of a network namespace the tour creates (or --netns).

    sudo python3 examples/ch7_attach_tour.py
    sudo python3 examples/ch7_attach_tour.py --only uprobe --only tp_btf
    sudo python3 examples/ch7_attach_tour.py --list
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Iterator

import _common as C

NEEDS = "CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN to load and attach every program type"
SRC = "ch7/attach-tour.bpf.c"
PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK = 1, 0  # perf_event_attr.type / .config
LIBC = "libc.so.6"


@dataclasses.dataclass
class Stop:
    name: str          # what --only takes
    prog: str          # function name in attach-tour.bpf.c
    attach: Callable[[Any, "Tour"], Any]
    trigger: Callable[["Tour"], None]
    report: Callable[[Any, "Tour"], tuple[bool, str]]  # (worked, what happened)
    network: bool = False
    facility: str = ""  # what an unsupported stop lacks (printed with the skip)


@dataclasses.dataclass
class Tour:
    netns: str | None = None
    labs_calls: int = 3
    execs: int = 2
    iter_text: str = ""
    verbose: bool = False


# ------------------------------------------------------------------ triggers
def _getppid(t: Tour) -> None:
    for _ in range(5):
        os.getppid()


def _exec_true(t: Tour) -> None:
    true = shutil.which("true") or "/bin/true"
    for _ in range(t.execs):
        subprocess.run([true], check=True)


def _call_labs(t: Tour) -> None:
    libc = ctypes.CDLL(LIBC)
    libc.labs.argtypes, libc.labs.restype = [ctypes.c_long], ctypes.c_long
    for _ in range(t.labs_calls):
        assert libc.labs(-42) == 42


def _burn_cpu(t: Tour) -> None:
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        pass


def _packets(t: Tour) -> None:
    C.udp_poke("127.0.0.1", netns=t.netns, count=3)
    time.sleep(0.05)


def _nothing(t: Tour) -> None:
    pass


def _openat(t: Tour) -> None:
    with open("/proc/self/stat", "rb"):
        pass


# ------------------------------------------------------------------ reports
def _count(var: str, what: str) -> Callable[[Any, Tour], tuple[bool, str]]:
    def report(obj: Any, t: Tour) -> tuple[bool, str]:
        n = getattr(obj.bss, var)
        return n > 0, what.format(n=n, bss=obj.bss, t=t)
    return report


def _report_iter(obj: Any, t: Tour) -> tuple[bool, str]:
    lines = t.iter_text.splitlines()
    me = next((ln for ln in lines[1:] if ln.split()[:2] == [str(os.getpid())] * 2), None)
    listing = "\n".join(f"      | {ln}" for ln in (lines if t.verbose else lines[:4] + ["  ..."]))
    return (me is not None and len(lines) > 2,
            f"{len(lines) - 1} tasks listed; this process: {' '.join(me.split()) if me else 'missing!'}\n{listing}")


# ------------------------------------------------------------------ attach
def _attach_iter(prog: Any, t: Tour) -> Any:
    link = prog.attach()
    t.iter_text = link.read_text()  # each read runs the iterator once
    return link


TOUR = [
    Stop("tracepoint", "on_tracepoint", lambda p, t: p.attach(), _getppid,
         _count("tracepoint_hits", "{n} getppid() calls by this process")),
    Stop("raw_tp", "on_raw_tp", lambda p, t: p.attach(), _getppid,
         _count("raw_tp_hits", "{n} syscalls by this process, last syscall id {bss.last_syscall}")),
    Stop("tp_btf", "on_tp_btf", lambda p, t: p.attach(), _exec_true,
         _count("tp_btf_hits", "{n} execs by children of this process, last {bss.exec_filename} "
                               "(comm {bss.exec_comm})")),
    Stop("uprobe", "on_uprobe", lambda p, t: p.attach_uprobe(LIBC, "labs", pid=os.getpid()), _call_labs,
         _count("uprobe_hits", "labs() entered {n} times, argument {bss.uprobe_arg}")),
    Stop("uretprobe", "on_uretprobe", lambda p, t: p.attach_uprobe(LIBC, "labs", retprobe=True, pid=os.getpid()),
         _call_labs, _count("uretprobe_hits", "labs() returned {n} times, return value {bss.uretprobe_ret}")),
    Stop("perf_event", "on_perf_event",
         lambda p, t: p.attach_perf_event(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, sample_freq=1000),
         _burn_cpu, _count("perf_event_hits", "{n} CPU-clock samples (1000 Hz, every CPU) hit this process")),
    Stop("iter", "on_iter_task", _attach_iter, _nothing, _report_iter),
    Stop("xdp", "on_xdp", lambda p, t: p.attach_xdp("lo", netns=t.netns), _packets,
         _count("xdp_hits", "{n} packets through XDP on lo"), network=True),
    Stop("tc", "on_tc", lambda p, t: p.attach_tc("lo", "ingress", netns=t.netns), _packets,
         _count("tc_hits", "{n} packets through tc (clsact ingress) on lo"), network=True),
    Stop("tcx", "on_tcx", lambda p, t: p.attach_tcx("lo", "ingress", netns=t.netns), _packets,
         _count("tcx_hits", "{n} packets through tcx ingress on lo"), network=True),
    Stop("kprobe", "on_kprobe", lambda p, t: p.attach(), _openat,
         _count("kprobe_hits", "do_sys_openat2 entered {n} times"), facility="kprobes (CONFIG_KPROBES)"),
    Stop("kretprobe", "on_kretprobe", lambda p, t: p.attach(), _openat,
         _count("kretprobe_hits", "do_sys_openat2 returned {n} times"), facility="kprobes (CONFIG_KPROBES)"),
    Stop("fentry", "on_fentry", lambda p, t: p.attach(), _openat,
         _count("fentry_hits", "do_sys_openat2 entered {n} times"), facility="BPF trampolines"),
    Stop("fexit", "on_fexit", lambda p, t: p.attach(), _openat,
         _count("fexit_hits", "do_sys_openat2 returned {n} times"), facility="BPF trampolines"),
    Stop("lsm", "on_lsm", lambda p, t: p.attach(), _openat,
         _count("lsm_hits", "file_open hook ran {n} times"), facility="BPF LSM (trampolines + lsm=bpf)"),
]
NAMES = [s.name for s in TOUR]


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="ch7_attach_tour", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", choices=NAMES, metavar="NAME",
                    help=f"run only this stop (repeatable): {', '.join(NAMES)}")
    ap.add_argument("--netns", help="run the network stops on lo of this namespace (default: a new one)")
    ap.add_argument("--verbose", "-v", action="store_true", help="print the iterator's whole task list")
    ap.add_argument("--list", action="store_true", help="list the stops and exit")
    ap.add_argument("--seconds", type=float, help="accepted for uniformity with the other runners (unused)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.list:
        for s in TOUR:
            print(f"{s.name:<11} {s.prog}" + (f"  (needs {s.facility})" if s.facility else ""))
        return 0
    return C.run("ch7_attach_tour", NEEDS, lambda: _main(args))


@contextlib.contextmanager
def _maybe_netns(name: str | None, needed: bool) -> Iterator[str | None]:
    if name:
        if not C.netns_exists(name):
            raise C.Usage(f"no network namespace {name!r} (see `ip netns list`)")
        yield name
    elif needed:
        with C.netns() as ns:
            print(f"(network stops use lo in a new network namespace {ns}; deleted at the end)")
            yield ns
    else:
        yield None


def _main(args: argparse.Namespace) -> int:
    import pybpf

    spec = pybpf.open(C.compile_bpf(SRC), name="attach_tour")
    spec.rodata.target_tgid = os.getpid()
    stops = [s for s in TOUR if not args.only or s.name in args.only]
    failed = skipped = 0
    with _maybe_netns(args.netns, any(s.network for s in stops)) as ns:
        tour = Tour(netns=ns, verbose=args.verbose)
        for stop in stops:
            sec = spec.programs[stop.prog].section
            label = f"{stop.name:<11} SEC(\"{sec}\")"
            one = spec.copy()  # load only this program (its own maps/.bss)
            for name, p in one.programs.items():
                p.autoload = name == stop.prog
            try:
                with one.load() as obj:
                    prog = obj.programs[stop.prog]
                    kind = prog.type.name
                    with stop.attach(prog, tour):
                        stop.trigger(tour)
                        ok, what = stop.report(obj, tour)
            except pybpf.NotSupportedError as e:
                skipped += 1
                print(f"{label}\n    SKIP (needs {stop.facility or e.feature}): NotSupportedError: {e}")
                continue
            print(f"{label} {kind}\n    {'ok' if ok else 'FAILED'}: {what}", flush=True)
            failed += not ok
    ran = len(stops) - skipped
    print(f"{ran} attach types ran, {skipped} skipped (not supported here), {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
