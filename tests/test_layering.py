"""Imports run downwards only (docs/architecture.md): protocol/ is pure, server/ knows nothing of client/ or ui/.

The client side of the rule is checked in test_client_model.py (``test_layers_import_one_way``).
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import trio_chat
import trio_chat.protocol
import trio_chat.server

PACKAGE_ROOT = Path(trio_chat.__file__).parent
PROTOCOL = PACKAGE_ROOT / "protocol"
SERVER = Path(trio_chat.server.__file__).parent

# I/O and event loops have no place in the sans-I/O protocol layer.
PROTOCOL_FORBIDDEN = ("trio", "prompt_toolkit", "asyncio", "socket", "ssl", "selectors")
SERVER_FORBIDDEN = ("trio_chat.client", "trio_chat.ui", "prompt_toolkit")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module the source of ``module`` imports, anywhere (functions and TYPE_CHECKING blocks included).

    Relative imports are resolved against the module's package; ``from . import x`` yields both the package and
    ``package.x``, since ``x`` may be a submodule.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert node.level <= len(package), f"{module}: relative import beyond the top of the package"
                base = ".".join(package[: len(package) - node.level + 1])
                imported = f"{base}.{node.module}" if node.module else base
            else:
                assert node.module is not None
                imported = node.module
            names.add(imported)
            names.update(f"{imported}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _imports(path: Path) -> set[str]:
    return _imports_of(path.read_text(encoding="utf-8"), _module_name(path), is_package=path.name == "__init__.py")


def _is_within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _sources(directory: Path) -> list[Path]:
    paths = sorted(directory.rglob("*.py"))
    assert paths, f"no Python files under {directory}"
    return paths


def _protocol_modules() -> list[str]:
    modules = [info.name for info in pkgutil.walk_packages(trio_chat.protocol.__path__, "trio_chat.protocol.")]
    assert "trio_chat.protocol.message" in modules
    return ["trio_chat.protocol", *modules]


# ---- the checker itself --------------------------------------------------------------------------------------


def test_the_checker_resolves_relative_imports_and_sees_nested_ones() -> None:
    # Guard against a checker that silently sees nothing: this source as server/handlers/x.py.
    source = (
        "import trio\n"
        "from ...client import core\n"
        "from ..ui.app import run\n"
        "from . import channels\n"
        "def later() -> None:\n"
        "    from trio_chat.ui import render\n"
    )
    assert _imports_of(source, "trio_chat.server.handlers.x") == {
        "trio",
        "trio_chat.client",
        "trio_chat.client.core",
        "trio_chat.server.ui.app",  # ``..`` from server/handlers is server/, not trio_chat/
        "trio_chat.server.ui.app.run",
        "trio_chat.server.handlers",
        "trio_chat.server.handlers.channels",
        "trio_chat.ui",
        "trio_chat.ui.render",
    }
    assert _imports_of("from . import casemap", "trio_chat.protocol", is_package=True) == {
        "trio_chat.protocol",
        "trio_chat.protocol.casemap",
    }
    assert _is_within("trio_chat.client.core", SERVER_FORBIDDEN)
    assert not _is_within("trio_chat.clientele", SERVER_FORBIDDEN)
    assert not _is_within("trio_chat.server.ui", SERVER_FORBIDDEN)


# ---- protocol/ ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _sources(PROTOCOL), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_protocol_modules_import_no_io_and_nothing_outside_protocol(path: Path) -> None:
    imported = _imports(path)
    forbidden = {n for n in imported if _is_within(n, PROTOCOL_FORBIDDEN)}
    assert not forbidden, f"{path} imports {forbidden}"
    outside = {n for n in imported if _is_within(n, ("trio_chat",)) and not _is_within(n, ("trio_chat.protocol",))}
    assert not outside, f"{path} imports {outside}"


def test_importing_all_of_protocol_loads_no_io_library() -> None:
    # Transitively, in a fresh interpreter: -S keeps site hooks from importing anything on their own.
    modules = _protocol_modules()
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=PACKAGE_ROOT.parent, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(out.stdout)
    assert set(modules) <= set(loaded)  # the check saw what it was meant to see
    forbidden = {n for n in loaded if _is_within(n, PROTOCOL_FORBIDDEN)}
    assert not forbidden, f"importing protocol/ loads {sorted(forbidden)}"
    layers = {n for n in loaded if _is_within(n, ("trio_chat",))} - {"trio_chat", *modules}
    assert not layers, f"importing protocol/ loads {sorted(layers)}"


# ---- server/ --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _sources(SERVER), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_server_modules_never_import_the_client_or_the_ui(path: Path) -> None:
    forbidden = {n for n in _imports(path) if _is_within(n, SERVER_FORBIDDEN)}
    assert not forbidden, f"{path} imports {forbidden}"


def test_the_server_check_covers_subpackages() -> None:
    checked = {p.relative_to(SERVER).as_posix() for p in _sources(SERVER)}
    assert {"state.py", "relay.py", "handlers/__init__.py", "handlers/messaging.py"} <= checked


# ---- cluster/ -------------------------------------------------------------------------------------------------

CLUSTER = SERVER / "cluster"


@pytest.mark.parametrize("path", _sources(SERVER), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_only_the_cluster_package_imports_coredis_and_the_core_never_imports_it(path: Path) -> None:
    imports = _imports(path)
    if not path.is_relative_to(CLUSTER):
        assert not {n for n in imports if _is_within(n, ("coredis",))}, f"{path} imports coredis"
    if (path.parent == SERVER and path.name != "app.py") or path.is_relative_to(SERVER / "handlers"):
        # app.py wires the cluster in; the state, the handlers and the sessions only know the seam.
        cluster = {n for n in imports if _is_within(n, ("trio_chat.server.cluster",))}
        assert not cluster, f"{path} imports {cluster}"


def test_a_single_node_server_loads_no_redis_code() -> None:
    code = (
        "import sys, trio_chat.cli, trio_chat.server.app; "
        "print(sorted(m for m in sys.modules if m.startswith(('coredis', 'trio_chat.server.cluster'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
