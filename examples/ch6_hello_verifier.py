#!/usr/bin/env python3
"""Chapter 6 — the verifier: compile one program with each classic mistake and watch it get rejected.

Needs: root (CAP_BPF; loading is all this does — nothing is attached), XDP
program support (Linux 4.8+), ring buffers (5.8+) for the full program.

ch6/hello-verifier.bpf.c is a correct XDP program; each -D flag plants one
bug. For every variant this compiles the source with that flag, loads it and
prints what the verifier said: pybpf.VerifierError's one-line summary (its
last meaningful log line), and with --log the tail of the verifier log.

    sudo python3 examples/ch6_hello_verifier.py                   # every variant
    sudo python3 examples/ch6_hello_verifier.py --variant NO_NULL_CHECK --log
    sudo python3 examples/ch6_hello_verifier.py --list
"""

from __future__ import annotations

import argparse
import errno
import sys

import _common as C

NEEDS = "CAP_BPF to load programs (the verifier runs at load time)"
SRC = "ch6/hello-verifier.bpf.c"

# variant -> (what the mistake is, text the verifier log must contain)
VARIANTS: dict[str, tuple[str, str]] = {
    "NO_NULL_CHECK": ("map lookup result used without a NULL check", "invalid mem access 'map_value_or_null'"),
    "OUT_OF_BOUNDS": ("loop reads one byte past a 12-byte map value (<= instead of <)",
                      "invalid access to map value, value_size=12 off=12 size=1"),
    "GLOBAL_OOB": ("global array indexed with an unchecked value", "outside of the allowed memory range"),
    "NO_PACKET_CHECK": ("packet read without a data_end bounds check", "invalid access to packet"),
    "NO_RETURN_VALUE": ("program exits without setting R0", "R0 !read_ok"),
    "INFINITE_LOOP": ("loop the verifier cannot prove to terminate", "infinite loop detected"),
    "WRONG_HELPER": ("kprobe-only helper called from XDP", "program of this type cannot use helper"),
    "NOT_GPL": ("GPL-only helper called from a non-GPL program",
                "cannot call GPL-restricted function from non-GPL compatible program"),
    "UNRELEASED_REF": ("ring buffer reservation never submitted", "reference leak"),
    "CTX_WRITE": ("write to the read-only xdp_md->data", "invalid bpf_context access"),
}
# Older kernels word some of these differently.
ALTERNATIVES = {"UNRELEASED_REF": ("Unreleased reference",), "INFINITE_LOOP": ("back-edge",)}


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="ch6_hello_verifier", description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", action="append", choices=["NONE", *VARIANTS], metavar="NAME",
                    help="only this variant (repeatable; NONE = the correct program); default: all")
    ap.add_argument("--log", nargs="?", type=int, const=12, metavar="LINES",
                    help="also print the last LINES lines of the verifier log (default 12)")
    ap.add_argument("--list", action="store_true", help="list the variants and exit")
    ap.add_argument("--seconds", type=float, help="accepted for uniformity with the other runners (unused)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.list:
        for name, (what, expect) in VARIANTS.items():
            print(f"{name:<16} {what}\n{'':<16} expect: {expect}")
        return 0
    return C.run("ch6_hello_verifier", NEEDS, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    import pybpf

    names = args.variant or ["NONE", *VARIANTS]
    failures = 0
    for name in names:
        flag = None if name == "NONE" else name
        what = VARIANTS[name][0] if flag else "the correct program"
        print(f"== {name}: {what}" + (f" (-D{flag})" if flag else ""))
        try:
            obj = C.compile_bpf(SRC, {flag: None} if flag else None)
        except pybpf.CompileError as e:
            print(f"   compile error: {str(e).splitlines()[0]}")
            failures += 1
            continue
        try:
            # log level 4: statistics only (enough for the summary); 1: the whole instruction walk
            with pybpf.load(obj, name="hello_verifier", log_level=1 if args.log else 4) as o:
                p = o.programs["hello"]
                st = p.verifier_stats
                print(f"   loaded: program id {p.id}, {st.processed_insns if st else '?'} instructions processed")
                if flag:
                    failures += 1
                    print("   unexpected: this kernel accepted the mistake")
        except pybpf.VerifierError as e:
            en = errno.errorcode.get(e.errno, str(e.errno))
            print(f"   rejected ({en}): {e.summary}")
            expect = (VARIANTS[name][1], *ALTERNATIVES.get(name, ())) if flag else ()
            if flag and not any(x in e.log for x in expect):
                failures += 1
                print(f"   unexpected: the log does not say {VARIANTS[name][1]!r}")
            elif flag and VARIANTS[name][1] not in e.summary:
                key = next((ln for ln in e.log.splitlines() if VARIANTS[name][1] in ln), "")
                if key:
                    print(f"   (reason: {key.strip()})")
            if not flag:
                failures += 1
            if args.log:
                print("   --- verifier log (tail) ---")
                for ln in e.tail(args.log).splitlines():
                    print(f"   | {ln[:200]}")
    print(f"{len(names)} variant(s), {failures} unexpected result(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
