"""pybpf.bcc.kheaders: the per-kernel headers (kernel config, BTF-derived macros) BCC programs see."""

from __future__ import annotations

import os

import pytest

from pybpf.bcc import kheaders


def test_config_header_is_autoconf_style():
    text = ("#\n# Automatically generated file; DO NOT EDIT.\nCONFIG_X86_64=y\nCONFIG_EXT4_FS=m\n"
            "# CONFIG_KPROBES is not set\nCONFIG_HZ=250\nCONFIG_LOCALVERSION=\"-x\"\nCONFIG_BASE=0x10\n"
            "CONFIG_NEG=-1\nCONFIG_WEIRD=abc\n")
    h = kheaders.config_header(text)
    lines = set(h.splitlines())
    assert {"#define CONFIG_X86_64 1", "#define CONFIG_EXT4_FS_MODULE 1", "#define CONFIG_HZ 250",
            '#define CONFIG_LOCALVERSION "-x"', "#define CONFIG_BASE 0x10", "#define CONFIG_NEG -1"} <= lines
    assert "KPROBES" not in h and "WEIRD" not in h and "CONFIG_EXT4_FS 1" not in h
    assert kheaders.config_header(None).count("#define") == 0


@pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"), reason="no kernel BTF")
def test_btf_derived_headers():
    from pybpf.btf import BTF

    btf = BTF.load_vmlinux()
    sock = kheaders.sock_fields_header(btf)
    assert "#define sk_state __sk_common.skc_state" in sock and "#define sk_family __sk_common.skc_family" in sock
    assert "#define inet_daddr sk.__sk_common.skc_daddr" in kheaders.inet_sock_fields_header(btf)
    assert "#define DNAME_INLINE_LEN " in kheaders.kernel_header(btf)


def test_header_dir_is_written_once(tmp_path, monkeypatch):
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path))
    d = kheaders.header_dir()
    assert d is not None and d.startswith(str(tmp_path))
    assert sorted(os.listdir(d)) == ["bcc_inet_sock_fields.h", "bcc_kconfig.h", "bcc_kernel.h", "bcc_sock_fields.h"]
    monkeypatch.setattr(kheaders, "config_text", lambda: pytest.fail("regenerated"))
    assert kheaders.header_dir() == d
