#!/usr/bin/env python3
"""Chapter 8 — drop pings with XDP (ch8/ping.bpf.c).

Needs: root (CAP_BPF + CAP_NET_ADMIN, and CAP_SYS_ADMIN for the demo's
network namespaces), XDP (native on veth, generic/skb anywhere; 4.12+;
bpf_link 5.9+), iproute2's `ip` for the demo, tracefs for bpf_printk lines.

By default runs a self-contained demo: two new network namespaces joined by
a veth pair (addresses 10.200.0.1/30 and 10.200.0.2/30 exist only inside
them); pings cross it, then the program is attached to the receiving end
and the pings are dropped, then it is detached and they flow again. The
namespaces are deleted at the end. With --iface it attaches to an existing
interface (in --netns) and reports once a second until Ctrl-C / --seconds.

    sudo python3 examples/ch8_xdp_ping_drop.py
    sudo python3 examples/ch8_xdp_ping_drop.py --iface veth0 --netns blue --seconds 30
"""

from __future__ import annotations

import argparse
import sys

import _common as C
import _pingdrop

NEEDS = "CAP_BPF + CAP_NET_ADMIN to attach XDP programs, CAP_SYS_ADMIN for the demo's namespaces"


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="ch8_xdp_ping_drop", description=__doc__.split("\n\n")[0])
    _pingdrop.add_args(ap)
    ap.add_argument("--mode", choices=("skb", "drv"), help="XDP mode (default: native if the driver has it)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    return C.run("ch8_xdp_ping_drop", NEEDS, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    import pybpf

    _pingdrop.check_args(args)
    with pybpf.load(C.compile_bpf("ch8/ping.bpf.c"), name="ping") as obj:
        prog = obj.programs["ping"]

        def attach(dev: str, netns: str | None):
            return prog.attach_xdp(dev, args.mode, netns=netns)

        if args.iface:
            return _pingdrop.watch(obj, attach, args, "ch8-xdp")
        return _pingdrop.demo(obj, attach, args, "ch8-xdp", "XDP")


if __name__ == "__main__":
    sys.exit(main())
