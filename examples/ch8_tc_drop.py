#!/usr/bin/env python3
"""Chapter 8 — drop pings with a TC classifier (ch8/tc-drop.bpf.c, SEC("tc") returning TC_ACT_SHOT).

Needs: root (CAP_BPF + CAP_NET_ADMIN, and CAP_SYS_ADMIN for the demo's
network namespaces), tc BPF: clsact + cls_bpf direct-action (4.5+, the
default --hook tc) or tcx links (6.6+, --hook tcx); iproute2's `ip` for the
demo, tracefs for bpf_printk lines.

By default runs the same self-contained veth demo as ch8_xdp_ping_drop.py
(namespaces created and deleted here, addresses only inside them); with
--iface it attaches to an existing interface (in --netns) and reports once a
second until Ctrl-C / --seconds.

    sudo python3 examples/ch8_tc_drop.py [--hook tc|tcx] [--direction ingress|egress]
    sudo python3 examples/ch8_tc_drop.py --iface veth0 --netns blue --seconds 30
"""

from __future__ import annotations

import argparse
import sys

import _common as C
import _pingdrop

NEEDS = "CAP_BPF + CAP_NET_ADMIN to attach tc programs, CAP_SYS_ADMIN for the demo's namespaces"


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="ch8_tc_drop", description=__doc__.split("\n\n")[0])
    _pingdrop.add_args(ap)
    ap.add_argument("--hook", choices=("tc", "tcx"), default="tc",
                    help="clsact/cls_bpf filter (tc, default) or a tcx bpf_link (tcx, Linux 6.6+)")
    ap.add_argument("--direction", choices=("ingress", "egress"), default="ingress",
                    help="hook direction (default ingress; the demo attaches to the receiving end)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    return C.run("ch8_tc_drop", NEEDS, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    import pybpf

    _pingdrop.check_args(args)
    if not args.iface and args.direction == "egress":
        raise C.Usage("the demo drops pings arriving at the receiving end: --direction egress needs --iface")
    with pybpf.load(C.compile_bpf("ch8/tc-drop.bpf.c"), name="tc_drop") as obj:
        prog = obj.programs["tc_drop_ping"]

        def attach(dev: str, netns: str | None):
            if args.hook == "tcx":
                return prog.attach_tcx(dev, args.direction, netns=netns)
            return prog.attach_tc(dev, args.direction, netns=netns)

        hook = f"{args.hook} {args.direction}"
        if args.iface:
            return _pingdrop.watch(obj, attach, args, "ch8-tc")
        return _pingdrop.demo(obj, attach, args, "ch8-tc", hook)


if __name__ == "__main__":
    sys.exit(main())
