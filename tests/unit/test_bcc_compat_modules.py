"""BCC's helper modules (bcc.utils, bcc.syscall, bcc.tcp, bcc.containers, bcc.exec) and the
``python -m pybpf.bcc TOOL`` runner that maps ``import bcc`` to pybpf.bcc."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

from pybpf.bcc import containers, exec as bcc_exec, syscall, tcp, utils
from pybpf.bcc.__main__ import find_tool

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def test_syscall_table_from_the_wheels_uapi_headers():
    if os.uname().machine == "x86_64":
        assert syscall.syscall_name(0) == b"read" and syscall.syscall_name(257) == b"openat"
        assert syscall.syscall_name(59) == b"execve"
    assert len(syscall.syscalls) > 300
    assert syscall.syscall_name(99999) == b"[unknown: 99999]"
    arm = syscall.syscall_table("aarch64")  # asm-generic numbering, __NR3264_ aliases resolved
    assert arm[56] == b"openat" and arm[63] == b"read" and arm[25] == b"fcntl"


def test_parse_unistd_aliases():
    text = b"#define __NR3264_lseek 62\n#define __NR_lseek __NR3264_lseek\n#define __NR_read 63\n" \
           b"#define __NR_syscalls 400\n"
    assert syscall.parse_unistd(text) == {62: b"lseek", 63: b"read"}


def test_tcp_names():
    assert tcp.state2str(1) == "ESTABLISHED" and tcp.state2str(12) == "NEW_SYN_RECV" and tcp.state2str(99) == "99"
    assert tcp.flags2str(tcp.TCPHDR_SYN | tcp.TCPHDR_ACK) == "SYN|ACK" and tcp.flags2str(0) == ""


def test_utils():
    class Out(io.StringIO):
        def __init__(self):
            super().__init__()
            self.buffer = io.BytesIO()

    out = Out()
    utils.printb(b"abc", file=out)
    utils.printb(b"d", file=out, nl=0)
    assert out.buffer.getvalue() == b"abc\nd"
    a = utils.ArgString("caf\u00e9")
    assert bytes(a) == "caf\u00e9".encode() and str(a) == "caf\u00e9"
    assert utils.get_online_cpus() and set(utils.get_online_cpus()) <= set(utils.get_possible_cpus())
    assert utils.detect_language(["python", "java"], os.getpid()) == "python"
    r = utils.StrcmpRewrite.rewrite_expr('STRCMP("bash",arg1) && x', False, True, [], "", 3)
    assert r["expr"] == 'streq_3("bash",arg1) && x' and r["probeid"] == 4
    assert "static inline bool streq_3" in r["streq_functions"] and "bpf_probe_read_user" in r["streq_functions"]


def test_containers_filter_text():
    class A:
        cgroupmap = None
        mntnsmap = None

    plain = containers.filter_by_containers(A())
    assert "container_should_be_filtered" in plain and "BPF_TABLE_PINNED" not in plain
    A.cgroupmap = "/sys/fs/bpf/cg"
    text = containers.filter_by_containers(A())
    assert 'BPF_TABLE_PINNED("hash", u64, u64, cgroupset, 1024, "/sys/fs/bpf/cg")' in text


def test_exec_holds_the_command_until_ready(tmp_path):
    marker = tmp_path / "ran"
    pid = bcc_exec.run_cmd(["touch", str(marker)])
    try:
        time.sleep(0.1)
        assert not marker.exists() and not bcc_exec.cmd_exited()
        bcc_exec.cmd_ready()
        for _ in range(200):
            if bcc_exec.cmd_exited():
                break
            time.sleep(0.01)
        assert marker.exists() and bcc_exec.cmd_exited()
    finally:
        import signal

        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_runner_maps_import_bcc(tmp_path):
    tool = tmp_path / "tool.py"
    tool.write_text("import sys\nfrom bcc import BPF\nfrom bcc.utils import printb\nfrom bcc.syscall import syscall_name\n"
                    "import bcc.tcp as t\nprintb(b'%s %s %s' % (BPF.__module__.encode(), syscall_name(99999), "
                    "t.state2str(10).encode()))\nsys.exit(3)\n")
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    r = subprocess.run([sys.executable, "-m", "pybpf.bcc", str(tool), "x"], capture_output=True, env=env, timeout=60)
    assert r.returncode == 3, r.stderr
    assert r.stdout == b"pybpf.bcc.bpf [unknown: 99999] LISTEN\n"
    r = subprocess.run([sys.executable, "-m", "pybpf.bcc", "no-such-tool-xyz"], capture_output=True, env=env, timeout=60)
    assert r.returncode == 2 and b"no such tool" in r.stderr
    assert find_tool(str(tool)) == str(tool) and find_tool("no-such-tool-xyz") is None
