"""The API reference and the packaging keep up with the code: every public name documented, one version, typed."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

import flask_ligand
from tests.conftest import REPO_ROOT

#: The names ``flask_ligand/__init__.py`` re-exports (``from x import Name as Name``).
PUBLIC_NAMES = sorted(
    alias.name
    for node in ast.walk(ast.parse(Path(flask_ligand.__file__).read_text()))
    if isinstance(node, ast.ImportFrom)
    for alias in node.names
    if alias.asname == alias.name
)


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_every_name_of_the_package_is_in_the_api_reference(name: str) -> None:
    """Each name ``flask_ligand`` re-exports is listed in docs/api.md."""
    reference = (REPO_ROOT / "docs" / "api.md").read_text()
    assert f"`{name}`" in reference or f"flask_ligand.{name}\n" in reference


def test_version_is_defined_once() -> None:
    """The installed metadata and the docs take their version from ``flask_ligand.__version__``."""
    assert version("flask-ligand") == flask_ligand.__version__
    assert "release = flask_ligand.__version__" in (REPO_ROOT / "docs" / "conf.py").read_text()
    assert 'version = { attr = "flask_ligand.__version__" }' in (REPO_ROOT / "pyproject.toml").read_text()


def test_wheel_ships_the_type_marker_and_the_pytest_plugin(tmp_path: Path) -> None:
    """The built wheel has ``py.typed``, the plugin module and its ``pytest11`` entry point."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(REPO_ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("flask_ligand-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        registered = archive.read(entry_points).decode()
    assert {"flask_ligand/py.typed", "flask_ligand/pytest_plugin.py", "flask_ligand/testing.py"} <= names
    assert "[pytest11]\nflask-ligand-testing = flask_ligand.pytest_plugin" in registered
