#!/usr/bin/env python3
"""Check hcc's import contracts (``[tool.importlinter]`` in pyproject.toml) with import-linter.

hcc's source folders are not laid out as its packages (``compiler/`` is ``hcc``, ``ir/`` is
``hcc.ir``, ``passes/`` is ``hcc.passes``: see ``package-dir``), and import-linter reads a
package from the folder of the importable package, where an editable install shows only
``compiler/``. So the Python files are copied into a temporary folder laid out as installed,
and import-linter runs on that copy.

    python .ci/lint_imports.py               # the repository this script is in
    python .ci/lint_imports.py --root DIR    # another tree with the same layout (tests use it)

Exit status: import-linter's (0 when every contract is kept).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path


def installed_layout(root: Path, dest: Path) -> None:
    """Copy the .py files of ``root``'s packages into ``dest`` as they are installed."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    # Outer packages first, so an inner mapping (hcc.ir.onnx = ir/onnx) lands over its parent.
    for package, folder in sorted(package_dir.items(), key=lambda item: item[0].count(".")):
        shutil.copytree(root / folder, dest / package.replace(".", os.sep), dirs_exist_ok=True,
                        ignore=_not_python)


def _not_python(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__"
            or (not n.endswith(".py") and not os.path.isdir(os.path.join(folder, n)))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    lint_imports = shutil.which("lint-imports", path=os.path.dirname(sys.executable))
    if lint_imports is None:
        print("lint_imports: lint-imports is not installed (pip install -e '.[test]')",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hcc-imports.") as tmp:
        installed_layout(root, Path(tmp))
        env = dict(os.environ, PYTHONPATH=tmp)
        return subprocess.call(
            [lint_imports, "--no-cache", str(root / "pyproject.toml")],
            cwd=tmp, env=env)


if __name__ == "__main__":
    sys.exit(main())
