"""pybpf._sys.kver: one kernel-version parser for the whole package (libbpf's rules)."""

from __future__ import annotations

import os

import pytest

from pybpf._sys import kver


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """kver with its cache cleared and /proc/version_signature redirected to a temp file."""
    sig = tmp_path / "version_signature"
    monkeypatch.setattr(kver, "VERSION_SIGNATURE", str(sig))
    monkeypatch.setattr(kver, "_cached", None)
    return sig


@pytest.mark.parametrize("release,want", [
    ("6.18.0", (6, 18, 0)), ("5.15.0-91-generic", (5, 15, 0)), ("6.8.12-300.fc40.x86_64", (6, 8, 12)),
    ("6.18-rc1", (6, 18, 0)), ("6.18", (6, 18, 0)), ("4.19.999", (4, 19, 999)), ("garbage", None), ("6", None),
])
def test_parse_release(release, want):
    assert kver.parse_release(release) == want


def test_version_code_caps_patch_like_kernel_headers():
    assert kver.version_code(5, 15, 131) == (5 << 16) + (15 << 8) + 131
    assert kver.version_code(4, 19, 300) == (4 << 16) + (19 << 8) + 255


def test_ubuntu_version_signature_wins(fresh, monkeypatch):
    fresh.write_text("Ubuntu 5.15.0-91.101-generic 5.15.131\n")
    assert kver.kernel_version() == (5, 15, 131)
    assert kver.linux_version_code() == kver.version_code(5, 15, 131)
    assert kver.LINUX_VERSION_CODE == kver.version_code(5, 15, 131)


def test_uname_without_signature(fresh):
    assert not fresh.exists()
    assert kver.kernel_version() == kver.parse_release(os.uname().release)


def test_unparsable_signature_falls_back_to_uname(fresh):
    fresh.write_text("junk\n")
    assert kver.kernel_version() == kver.parse_release(os.uname().release)


def test_users_share_the_helper(fresh):
    """syscall.py, object_externs.py and asm/tag.py all read the version through kver."""
    from pybpf._sys.syscall import _kernel_version
    from pybpf.asm.tag import tag_algorithm_for_kernel
    from pybpf.object_externs import kernel_version_code

    fresh.write_text("Ubuntu 6.17.0-5.5-generic 6.17.9\n")
    assert _kernel_version() == (6, 17)
    assert kernel_version_code() == kver.version_code(6, 17, 9)
    assert tag_algorithm_for_kernel() == "sha1"
    assert kernel_version_code("6.18.2-arch1") == kver.version_code(6, 18, 2)
