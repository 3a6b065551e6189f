"""pybpf.links exposes every public attach function and link class: in __all__, dir() and (for type
checkers) the TYPE_CHECKING re-export block."""

from __future__ import annotations

import ast
import importlib
import inspect

import pybpf.links as links

SUBMODULES = ("tracing", "perf_event", "kprobe", "uprobe", "usdt", "iter", "struct_ops", "net")


def test_network_attach_points_are_listed():
    net = importlib.import_module("pybpf.links.net")
    public = set(net.__all__) - {"auto_attach"}  # tracing.auto_attach / net.auto_attach: called via Program.attach
    assert public <= set(links.__all__)
    assert public <= set(dir(links))
    for name in ("attach_xdp", "attach_tcx", "attach_tc", "attach_cgroup", "attach_netfilter"):
        assert getattr(links, name) is getattr(net, name)


def test_every_attach_function_is_exported():
    for sub in SUBMODULES:
        mod = importlib.import_module(f"pybpf.links.{sub}")
        for name in getattr(mod, "__all__", ()):
            if name.startswith("attach_"):
                assert name in links.__all__, f"pybpf.links.{sub}.{name} missing from pybpf.links.__all__"


def test_type_checking_block_covers_all_lazy_names():
    """Each lazily exported name is imported, from the module __getattr__ would load it from,
    under ``if TYPE_CHECKING:`` (what mypy/pyright see)."""
    tree = ast.parse(inspect.getsource(links))
    seen: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom) and imp.level == 1:
                    for a in imp.names:
                        seen[a.asname or a.name] = "." + (imp.module or "")
    missing = {n: m for n, m in links._LAZY.items() if seen.get(n) != m}
    assert not missing, f"not in the TYPE_CHECKING block (or from another module): {missing}"
    for name in links._LAZY:
        assert getattr(links, name) is not None
