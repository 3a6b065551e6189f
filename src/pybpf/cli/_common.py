"""Shared CLI plumbing: global options, errors, JSON output."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any


@dataclasses.dataclass
class Context:
    """Global options (bpftool's -j/-p/-d/-f/-n)."""

    json: bool = False
    pretty: bool = False
    debug: bool = False
    bpffs: bool = False
    nomount: bool = False

    def emit_json(self, obj: Any) -> None:
        json.dump(obj, sys.stdout, indent=4 if self.pretty else None)
        sys.stdout.write("\n")


class CLIError(Exception):
    """A user error on the command line: one line on stderr, exit code like bpftool's (255)."""

    def __init__(self, msg: str, exit_code: int = 255) -> None:
        super().__init__(msg)
        self.exit_code = exit_code


def usage_error(msg: str) -> CLIError:
    return CLIError(msg, 255)


def need_root(what: str) -> None:
    import os

    if os.geteuid() != 0:
        raise CLIError(f"{what} needs root (CAP_BPF/CAP_SYS_ADMIN); run it with sudo", 1)
