"""pyproject.toml lists every package folder, so a wheel install has every module an editable
install has (setuptools installs only the packages it is told about)."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _package_folders() -> dict[str, Path]:
    """Package name -> folder, for every folder with an __init__.py under the mapped roots."""
    found = {}
    for package, folder in _setuptools()["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            relative = init.parent.relative_to(base).parts
            found[".".join((package, *relative))] = init.parent
    return found


def test_every_package_folder_is_listed():
    missing = sorted(set(_package_folders()) - set(_setuptools()["packages"]))
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_listed_package_has_a_folder():
    folders = _package_folders()
    absent = [p for p in _setuptools()["packages"] if p not in folders]
    assert not absent, f"listed in pyproject.toml but not a package folder: {absent}"
