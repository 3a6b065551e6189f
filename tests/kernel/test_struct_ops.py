"""struct_ops end to end: a BPF tcp_congestion_ops registered by pybpf carries a TCP
connection over loopback in a test namespace (its programs run), for plain
``.struct_ops`` maps and ``.struct_ops.link`` bpf_links; error paths leak nothing.

Every congestion control name is random (the registry is kernel-wide), and every
registration is removed in ``finally`` blocks (a plain struct_ops map outlives the
process otherwise).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import threading
import uuid
from typing import Iterator

import pytest

import pybpf
from pybpf import LinkType, NotSupportedError, StructOpsError
from pybpf.compile import compile as compile_c
from pybpf.compile import toolchain
from pybpf.links import StructOpsLink

from netns import in_netns, netns

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "obj"))
import build  # noqa: E402

AVAILABLE = "/proc/sys/net/ipv4/tcp_available_congestion_control"
TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)

SRC = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "GPL";

int init_calls = 0;
int init_b_calls = 0;
int cong_avoid_calls = 0;

SEC("struct_ops")
void BPF_PROG(pyca_init, struct sock *sk) { __sync_fetch_and_add(&init_calls, 1); }

SEC("struct_ops")
void BPF_PROG(pyca_init_b, struct sock *sk) { __sync_fetch_and_add(&init_b_calls, 1); }

SEC("struct_ops")
__u32 BPF_PROG(pyca_ssthresh, struct sock *sk) { return 10; }

SEC("struct_ops")
__u32 BPF_PROG(pyca_undo_cwnd, struct sock *sk) { return 10; }

SEC("struct_ops")
void BPF_PROG(pyca_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
    __sync_fetch_and_add(&cong_avoid_calls, 1);
}

SEC(".struct_ops")
struct tcp_congestion_ops pyca = {
    .init = (void *)pyca_init,
    .ssthresh = (void *)pyca_ssthresh,
    .undo_cwnd = (void *)pyca_undo_cwnd,
    .cong_avoid = (void *)pyca_cong_avoid,
    .name = "pyca",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops pyca_link = {
    .init = (void *)pyca_init,
    .ssthresh = (void *)pyca_ssthresh,
    .undo_cwnd = (void *)pyca_undo_cwnd,
    .cong_avoid = (void *)pyca_cong_avoid,
    .name = "pyca_link",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops pyca_link_b = {
    .init = (void *)pyca_init_b,
    .ssthresh = (void *)pyca_ssthresh,
    .undo_cwnd = (void *)pyca_undo_cwnd,
    .cong_avoid = (void *)pyca_cong_avoid,
    .name = "pyca_link",
};
"""

pytestmark = pytest.mark.skipif(toolchain.zig_path() is None and build.clang() is None,
                                reason="no BPF C compiler (pip install ziglang)")


@pytest.fixture(scope="module")
def cc_obj() -> bytes:
    return bytes(compile_c(SRC))


@pytest.fixture(scope="module")
def so_obj(tmp_path_factory) -> str:
    if build.clang() is None:
        pytest.skip(f"{build.CLANG} not installed")
    return build.build("structops.c", str(tmp_path_factory.mktemp("so") / "structops.o"))


def available() -> list[str]:
    with open(AVAILABLE) as f:
        return f.read().split()


def ca_name() -> str:
    """A congestion control name no concurrent test run uses (TCP_CA_NAME_MAX is 16)."""
    return f"py{uuid.uuid4().hex[:10]}"


def named(obj: bytes | str, **names: str) -> pybpf.ObjectSpec:
    """The object's spec with the tcp_congestion_ops ``name`` of each given variable replaced."""
    spec = pybpf.open(obj)
    for var, name in names.items():
        spec.maps[var].struct_ops.view.name = name.encode()
    return spec


@contextlib.contextmanager
def unregistered_on_exit(m: pybpf.Map) -> Iterator[None]:
    """Delete element 0 of plain struct_ops map ``m`` afterwards, whatever happened (unless
    ``m`` was closed meanwhile: its registration handle unregistered it then)."""
    try:
        yield
    finally:
        with contextlib.suppress(pybpf.BPFError, pybpf.ClosedError):
            m._ops.delete((0).to_bytes(4, "little"))  # noqa: SLF001


def tcp_transfer(ns: str, ca: str, nbytes: int = 4 << 20) -> str:
    """Send ``nbytes`` over loopback in ``ns`` from a socket using congestion control ``ca``;
    returns the algorithm the socket reported."""
    received = []
    with in_netns(ns):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with srv, cli:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        cli.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, ca.encode())

        def serve() -> None:
            conn, _ = srv.accept()
            with conn:
                n = 0
                while chunk := conn.recv(1 << 16):
                    n += len(chunk)
                received.append(n)

        t = threading.Thread(target=serve)
        t.start()
        try:
            cli.connect(srv.getsockname())
            used = cli.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16).rstrip(b"\0").decode()
            cli.sendall(bytes(nbytes))
            cli.shutdown(socket.SHUT_WR)
        finally:
            t.join(timeout=30)
    assert received == [nbytes]
    return used


# ---------------------------------------------------------------------- plain .struct_ops
def test_plain_struct_ops_carries_a_tcp_connection(cc_obj):
    name = ca_name()
    with named(cc_obj, pyca=name).load() as obj, netns() as ns:
        m = obj.maps["pyca"]
        assert m.struct_name == "tcp_congestion_ops" and not m.is_link
        with unregistered_on_exit(m):
            with m.attach_struct_ops() as reg:
                assert isinstance(reg, StructOpsLink) and not reg.is_bpf_link
                assert reg.map_id == m.id
                assert name in available()
                assert tcp_transfer(ns, name) == name
                assert obj.bss.init_calls == 1  # the client socket's init, once established
                assert obj.bss.cong_avoid_calls > 0
                with pytest.raises(NotSupportedError, match="struct_ops.link"):
                    reg.info()
            assert name not in available()


def test_object_close_unregisters(cc_obj):
    name, lname = ca_name(), ca_name()
    spec = named(cc_obj, pyca=name, pyca_link=lname)
    obj = spec.load()
    with unregistered_on_exit(obj.maps["pyca"]), obj:
        obj.maps["pyca"].attach_struct_ops()
        obj.maps["pyca_link"].attach_struct_ops()
        assert {name, lname} <= set(available())
    assert name not in available() and lname not in available()


def test_plain_disconnected_or_pinned_stays_registered(cc_obj, tmp_path):
    from pybpf._sys.fs import DEFAULT_BPFFS, ensure_bpffs

    name = ca_name()
    ensure_bpffs(DEFAULT_BPFFS)
    pin = os.path.join(DEFAULT_BPFFS, f"pybpf_so_{uuid.uuid4().hex[:8]}")
    with named(cc_obj, pyca=name).load() as obj:
        m = obj.maps["pyca"]
        with unregistered_on_exit(m):
            reg = m.attach_struct_ops()
            reg.disconnect()
            reg.close()
            assert name in available()  # still registered, with no fd of ours on it
            m._ops.delete((0).to_bytes(4, "little"))  # noqa: SLF001
            assert name not in available()
    try:
        with named(cc_obj, pyca=name).load() as obj:
            with unregistered_on_exit(obj.maps["pyca"]):
                reg = obj.maps["pyca"].attach_struct_ops()
                reg.pin(pin)  # pins the map: the registration outlives this handle
                reg.close()
                obj.close()
                assert name in available()
                with pybpf.Map.from_pin(pin) as pinned, unregistered_on_exit(pinned):
                    os.unlink(pin)
        assert name not in available()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pin)


def test_name_collision_is_a_typed_error(cc_obj):
    name = ca_name()
    with named(cc_obj, pyca=name, pyca_link=name).load() as obj:
        with unregistered_on_exit(obj.maps["pyca"]), obj.maps["pyca"].attach_struct_ops():
            with pytest.raises(pybpf.BPFError) as e:
                obj.maps["pyca_link"].attach_struct_ops()
            assert e.value.errno == errno.EEXIST and "already registered" in str(e.value)
            assert available().count(name) == 1


# ---------------------------------------------------------------------- .struct_ops.link
def test_link_struct_ops_carries_a_tcp_connection_until_detached(cc_obj):
    name = ca_name()
    with named(cc_obj, pyca_link=name).load() as obj, netns() as ns:
        m = obj.maps["pyca_link"]
        assert m.is_link
        with m.attach_struct_ops() as link:
            assert link.is_bpf_link and link.type == LinkType.STRUCT_OPS
            info = link.info()
            assert info.type == LinkType.STRUCT_OPS and info.details["map_id"] == m.id == link.map_id
            with pybpf.links.Link.from_id(link.id) as same:
                assert isinstance(same, StructOpsLink) and same.map_id == m.id
            assert name in available()
            assert tcp_transfer(ns, name) == name
            assert obj.bss.init_calls == 1
            link.detach()
            assert name not in available()
            assert link.info().details["map_id"] == 0  # the link object outlives the detach


def test_link_update_map_swaps_the_implementation(cc_obj):
    name = ca_name()
    with named(cc_obj, pyca_link=name, pyca_link_b=name).load() as obj, netns() as ns:
        with obj.maps["pyca_link"].attach_struct_ops() as link:
            link.update_map(obj.maps["pyca_link_b"], old_map=obj.maps["pyca_link"])
            assert link.map_id == obj.maps["pyca_link_b"].id
            assert tcp_transfer(ns, name) == name
            assert (obj.bss.init_calls, obj.bss.init_b_calls) == (0, 1)
            with pytest.raises(pybpf.BPFError):  # pyca_link is no longer the linked map
                link.update_map(obj.maps["pyca_link"], old_map=obj.maps["pyca_link"])
            with pytest.raises(NotSupportedError, match="update_map"):
                link.update(obj.programs["pyca_init"])
            obj.maps["pyca_link"].close()  # the link now belongs to pyca_link_b
            assert name in available() and not link.closed
        assert name not in available()


def test_pinned_link_outlives_the_object(cc_obj):
    from pybpf._sys.fs import DEFAULT_BPFFS, ensure_bpffs

    name = ca_name()
    ensure_bpffs(DEFAULT_BPFFS)
    pin = os.path.join(DEFAULT_BPFFS, f"pybpf_so_{uuid.uuid4().hex[:8]}")
    try:
        with named(cc_obj, pyca_link=name).load() as obj:
            obj.maps["pyca_link"].attach_struct_ops().pin(pin)
        assert name in available()
        with pybpf.links.Link.from_pin(pin) as link:
            assert isinstance(link, StructOpsLink)
            link.detach()  # the pin alone would release the link an RCU grace period after its unlink
            assert name not in available()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pin)


# ---------------------------------------------------------------------- layout translation, errors
def test_local_struct_translated_by_member_name(so_obj):
    """structops.c declares its own tcp_congestion_ops (other order, an extra zero member)."""
    spec = named(so_obj, so_plain=ca_name())
    with spec.load() as obj:
        assert set(obj.maps) >= {"so_plain", "so_link"} and "so_off" not in obj.maps
        assert "so_ssthresh_sleepable" not in obj.programs  # used only by so_off (not created)
        m = obj.maps["so_plain"]
        assert len(m.kernel_value) == m.value_size > spec.maps["so_plain"].value_size
        with unregistered_on_exit(m), m.attach_struct_ops():
            assert bytes(spec.maps["so_plain"].struct_ops.view.name).rstrip(b"\0").decode() in available()


def test_unknown_member_with_data_fails_before_creating_anything(so_obj):
    spec = pybpf.open(so_obj)
    spec.maps["so_plain"].struct_ops.view.pybpf_extra = 7
    with pytest.raises(StructOpsError, match="pybpf_extra") as e:
        spec.load()
    assert e.value.map == "so_plain" and e.value.member == "pybpf_extra"


def test_size_mismatch_is_a_typed_error(so_obj):
    spec = pybpf.open(so_obj)
    spec.maps["so_badsize"].autocreate = True  # struct tcp_congestion_ops___badsize: u64 flags
    with pytest.raises(StructOpsError, match="size mismatch: 8 bytes in the object, 4 in the kernel"):
        spec.load()


def test_unknown_struct_ops_type_is_not_supported(so_obj):
    spec = pybpf.open(so_obj)
    spec.maps["so_nosuch"].autocreate = True
    with pytest.raises(NotSupportedError, match="bpf_struct_ops_pybpf_no_such_ops.*tcp_congestion_ops"):
        spec.load()


def test_unreferenced_struct_ops_program_is_an_error(so_obj):
    spec = pybpf.open(so_obj)
    spec.programs["so_unused"].autoload = True
    with pytest.raises(pybpf.Error, match="isn't referenced by any created struct_ops map"):
        spec.load()


def test_failed_registration_leaks_nothing(so_obj):
    """A tcp_congestion_ops without ssthresh is refused at registration (EINVAL)."""
    spec = named(so_obj, so_plain=ca_name())
    del spec.maps["so_plain"].struct_ops.programs["ssthresh"]
    with spec.load() as obj:
        with pytest.raises(pybpf.BPFError, match="rejected the value") as e:
            obj.maps["so_plain"].attach_struct_ops()
        assert e.value.errno == errno.EINVAL


@contextlib.contextmanager
def no_free_fds() -> Iterator[None]:
    """Every new fd fails with EMFILE inside the block (RLIMIT_NOFILE at the highest open fd,
    the holes below it filled)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fill: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(map(int, os.listdir("/proc/self/fd"))) + 1, hard))
    try:
        while True:
            try:
                fill.append(os.open("/dev/null", os.O_RDONLY))
            except OSError as e:
                assert e.errno == errno.EMFILE
                break
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for fd in fill:
            os.close(fd)


def test_failed_handle_leaves_nothing_registered(cc_obj):
    """attach_struct_ops takes its own map reference before writing the value (which registers
    a plain map at once): when that fails (EMFILE), nothing is registered."""
    name = ca_name()
    with named(cc_obj, pyca=name).load() as obj:
        m = obj.maps["pyca"]
        with unregistered_on_exit(m):
            with no_free_fds(), pytest.raises(pybpf.BPFError) as e:
                m.attach_struct_ops()
            assert e.value.errno == errno.EMFILE and "RLIMIT_NOFILE" in str(e.value)
            assert name not in available()
            with m.attach_struct_ops():  # and it registers fine afterwards
                assert name in available()
            assert name not in available()


def test_skeleton_attach_registers_struct_ops_maps(so_obj, tmp_path):
    import importlib.util

    from pybpf import skeleton

    out = tmp_path / "structops_skel.py"
    out.write_text(skeleton.main_gen_skeleton(so_obj))
    mspec = importlib.util.spec_from_file_location("structops_skel", str(out))
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    spec = mod.Structops.open()
    names = {var: ca_name() for var in ("so_plain", "so_link")}
    for var, name in names.items():
        getattr(spec.maps, var).struct_ops.view.name = name.encode()
    with spec.load() as skel:
        with unregistered_on_exit(skel.maps.so_plain):
            assert skel.maps.so_off is None and skel.progs.so_ssthresh_sleepable is None
            links = skel.attach()
            assert set(links) == {"so_plain", "so_link"} and links["so_link"].is_bpf_link
            assert set(names.values()) <= set(available())
            skel.detach()
            assert not set(names.values()) & set(available())
