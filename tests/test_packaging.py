"""Every package directory is installed, and every module imports on its own (STYLE.md #8)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
PACKAGE_DIRS = {name: ROOT / folder for name, folder in CONFIG["package-dir"].items()}


def _package_dirs() -> dict[str, Path]:
    """Dotted package name -> directory, for every folder with an __init__.py."""
    found: dict[str, Path] = {}
    for top, folder in PACKAGE_DIRS.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            found[".".join((top, *rel))] = init.parent
    return found


def _modules() -> list[str]:
    names = []
    for package, folder in _package_dirs().items():
        names.append(package)
        names += [f"{package}.{py.stem}" for py in folder.glob("*.py") if py.stem not in ("__init__", "__main__")]
    return sorted(names)


def test_every_package_directory_is_listed_in_pyproject() -> None:
    assert sorted(_package_dirs()) == sorted(CONFIG["packages"])


@pytest.mark.parametrize("module", _modules())
def test_each_module_imports_on_its_own(module: str) -> None:
    # A fresh interpreter per module, so an import that only works after
    # another module happened to load first is caught.
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
