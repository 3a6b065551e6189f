"""USDT end to end: a C program using <bpf/usdt.bpf.h> reads probe arguments (BPF_USDT),
compiled by pybpf.compile, loaded by the object loader, attached to a test binary."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import pybpf
from pybpf.compile import compile as compile_c

TARGET = os.path.join(os.path.dirname(__file__), "..", "data", "uprobe", "target.c")

SRC = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>

long sum_a = 0;
long last_b = -1;
int hits = 0;

SEC("usdt")
int BPF_USDT(on_loop, int a, long b)
{
    sum_a += a;
    last_b = b;
    hits++;
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    assert shutil.which("gcc"), "gcc is installed by .ci/run"
    out = str(tmp_path_factory.mktemp("usdt") / "target")
    subprocess.run(["gcc", "-O0", "-g", "-o", out, TARGET], check=True)
    return out


def test_bpf_usdt_reads_arguments(target):
    with pybpf.open(compile_c(SRC)).load() as obj:
        with obj.programs["on_loop"].attach_usdt(target, "pybpf_test", "loop"):
            out = subprocess.run([target, "7"], check=True, capture_output=True, text=True).stdout
            assert out.startswith("done")
        assert obj.bss.hits == 7
        assert obj.bss.sum_a == sum(range(7))  # first argument: the loop index
        assert obj.data.last_b == 0  # second argument: pybpf_sink, back to 0 after each iteration
