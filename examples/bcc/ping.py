#!/usr/bin/env python3
"""Chapter 8 — an XDP program that spots ping packets and reports them with bpf_trace_printk (BCC style).

Needs: root (CAP_BPF + CAP_NET_ADMIN; CAP_SYS_ADMIN for the demo's network
namespaces), XDP (native on veth, generic/skb mode anywhere; 4.12+), tracefs for
bpf_trace_printk's output (%pI4 needs 5.13+), iproute2's ``ip`` for the demo.

ping.bpf.c is loaded as the book does, ``BPF(src_file="ping.bpf.c")``, its
``ping`` function with ``load_func("ping", BPF.XDP)``, and attached with
``BPF.attach_xdp(interface, fn, flags)`` (netlink, as BCC does) until
``BPF.remove_xdp``. ICMP echo requests are printed ("Got ping packet A > B seq N")
and counted; with --drop they are also dropped.

By default it runs a self-contained demo: two new network namespaces joined by a veth
pair (10.200.X.1/30 <-> 10.200.X.2/30, addresses set only inside them), the program
attached to the receiving end, pings sent across (in pure Python: no ping binary
needed), the printk lines shown, the program detached, the namespaces deleted. With
--iface it attaches to an existing interface (in --netns) and prints trace_pipe
until Ctrl-C / --seconds / --count.

    sudo python3 examples/bcc/ping.py [--drop] [--pings N] [--trace-instance]
    sudo python3 examples/bcc/ping.py --iface lo [--netns NS] [--drop] [--trace-instance] [--seconds N] [--count N]
"""

from __future__ import annotations

import argparse
import sys
import time

import _bcc

C = _bcc.C
NEEDS = "CAP_BPF + CAP_NET_ADMIN to attach XDP programs, CAP_SYS_ADMIN for the demo's namespaces"
SOURCE = _bcc.HERE / "ping.bpf.c"


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="ping.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--iface", help="attach to this interface and print trace_pipe (default: the veth demo)")
    ap.add_argument("--netns", help="network namespace of --iface (from `ip netns add`)")
    ap.add_argument("--drop", action="store_true", help="drop the pings too (compiled with -DDROP_PINGS)")
    ap.add_argument("--mode", choices=("skb", "drv"), help="XDP mode (default: native if the driver has it)")
    ap.add_argument("--pings", type=int, default=3, help="demo: pings to send (default 3)")
    _bcc.add_limits(ap, "ping lines")
    _bcc.add_trace(ap)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    return _bcc.run("ping.py", NEEDS, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    if args.netns and not args.iface:
        raise _bcc.Usage("--netns names the namespace of --iface: give --iface too")
    flags = {"skb": BPF.XDP_FLAGS_SKB_MODE, "drv": BPF.XDP_FLAGS_DRV_MODE, None: 0}[args.mode]
    with BPF(src_file=str(SOURCE), cflags=["-DDROP_PINGS"] if args.drop else []) as b:
        fn = b.load_func("ping", BPF.XDP)
        with _bcc.Printk(b, "ping.py", args.trace_instance) as printk:
            if args.iface:
                return _watch(b, printk, fn, flags, args)
            return _demo(b, printk, fn, flags, args)


def _pings(b) -> int:
    return b["pings"][0].value


def _watch(b, printk, fn, flags: int, args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    where = args.iface + (f" in netns {args.netns}" if args.netns else "")
    with C.in_netns(args.netns):
        BPF.attach_xdp(args.iface, fn, flags)
    try:
        print(f"Attached ping() to {where}; reading {printk.where}... Ctrl-C to stop", flush=True)
        _bcc.trace_lines(printk, _bcc.Until(args.seconds, args.count), match=b"Got ping packet")
    finally:
        with C.in_netns(args.netns):
            BPF.remove_xdp(args.iface, flags)
    print(f"Detached from {where}; {_pings(b)} ping packets seen", flush=True)
    return 0


def _ping(v, n: int, label: str) -> int:
    rtts = C.ping(v.ip_b, netns=v.ns_a, count=n, timeout=0.5)
    answered = sum(r is not None for r in rtts)
    shown = ", ".join("timeout" if r is None else f"{r * 1000:.2f} ms" for r in rtts)
    print(f"  {label}: ping {v.ip_b} from {v.ns_a}: {answered}/{n} answered ({shown})", flush=True)
    return answered


def _demo(b, printk, fn, flags: int, args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    n = args.pings
    with C.veth_pair() as v:
        print(f"created {v.ns_a} ({v.dev_a} {v.ip_a}/30) <-> {v.ns_b} ({v.dev_b} {v.ip_b}/30)", flush=True)
        with C.in_netns(v.ns_b):
            BPF.attach_xdp(v.dev_b, fn, flags)
        try:
            print(f"attached ping() to {v.dev_b} in {v.ns_b} (XDP)", flush=True)
            during = _ping(v, n, "while attached ")
            # every bpf_trace_printk of the system shows up: keep the lines about our pings
            mine = f"Got ping packet {v.ip_a} > {v.ip_b}".encode()
            lines, deadline = [], time.monotonic() + 3
            while len(lines) < n and time.monotonic() < deadline:
                line = printk.readline(max(0.0, deadline - time.monotonic()))
                if mine in line:
                    lines.append(line.decode("utf-8", "replace"))
            for line in lines:
                print(f"    {line.strip()}")
            seen = _pings(b)
            print(f"  the program counted {seen} ping packets; {len(lines)} printk lines shown", flush=True)
        finally:
            with C.in_netns(v.ns_b):
                BPF.remove_xdp(v.dev_b, flags)
        print(f"detached from {v.dev_b}", flush=True)
        after = _ping(v, n, "after detaching")
        unchanged = _pings(b) == seen
    print(f"deleted {v.ns_a} and {v.ns_b}", flush=True)
    want = 0 if args.drop else n
    ok = during == want and seen == n and lines and after == n and unchanged
    verdict = "dropped" if args.drop else "answered"
    print("result: " + (f"pings were seen and {verdict} while attached, answered (and no longer seen) after detaching" if ok
                        else f"unexpected (answered while attached {during}/{n}, counted {seen}, "
                             f"printk lines {len(lines)}, answered after {after}/{n})"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
