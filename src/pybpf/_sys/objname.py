"""Object names (``prog_name`` / ``map_name`` in bpf_attr): what the kernel accepts, checked up front.

The kernel's ``bpf_obj_name_cpy()`` (Linux 4.15+) rejects with a bare EINVAL
any name holding a character other than ``[A-Za-z0-9_.]`` or not
NUL-terminated within ``BPF_OBJ_NAME_LEN`` (16) bytes, i.e. longer than 15.
"""

from __future__ import annotations

from ..errors import Error

__all__ = ["OBJ_NAME_MAX", "check_obj_name"]

OBJ_NAME_MAX = 15  # BPF_OBJ_NAME_LEN - 1
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")


def check_obj_name(name: str, kind: str = "program", *, truncate: bool = True) -> bytes:
    """``name`` as the bytes for ``prog_name``/``map_name``, or :class:`~pybpf.errors.Error` saying why not.

    Characters outside ``[A-Za-z0-9_.]`` are always an error. Names longer than
    15 characters are cut to 15 with ``truncate`` (as libbpf does for ELF
    function names), else an error.
    """
    bad = sorted({c for c in name if c not in _ALLOWED})
    if bad:
        raise Error(f"invalid {kind} name {name!r}: the kernel accepts only letters, digits, '_' and '.' "
                    f"(found {''.join(bad)!r}); e.g. {''.join(c if c in _ALLOWED else '_' for c in name)!r}")
    if len(name) > OBJ_NAME_MAX and not truncate:
        raise Error(f"invalid {kind} name {name!r}: longer than the kernel's {OBJ_NAME_MAX} characters")
    return name[:OBJ_NAME_MAX].encode()
