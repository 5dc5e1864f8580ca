#!/usr/bin/env python3
"""Check hcc's import contracts (``[tool.importlinter]`` in pyproject.toml) with import-linter.

hcc's source folders are not laid out as its packages (``compiler/`` is ``hcc``, ``ir/`` is
``hcc.ir``, ``passes/`` is ``hcc.passes``: see ``package-dir``), and import-linter reads a
package from the folder of the importable package, where an editable install shows only
``compiler/``. So the Python files are copied into a temporary folder laid out as installed,
and import-linter runs on that copy. Then every module-level import cycle is searched for
in the whole graph (import-linter's acyclic contract looks at the siblings of each package; a
cycle through modules of different packages shows there too, but this names its modules).

    python .ci/lint_imports.py               # the repository this script is in
    python .ci/lint_imports.py --root DIR    # another tree with the same layout (tests use it)

Exit status: 0 when every contract is kept and no modules import each other in a cycle.
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
        shutil.copytree(
            root / folder,
            dest / package.replace(".", os.sep),
            dirs_exist_ok=True,
            ignore=_not_python,
        )


def _not_python(folder: str, names: list[str]) -> set[str]:
    return {
        n
        for n in names
        if n == "__pycache__"
        or (not n.endswith(".py") and not os.path.isdir(os.path.join(folder, n)))
    }


def import_cycles() -> list[list[str]]:
    """Groups of hcc modules that import each other at run time (imports made only for
    annotations aside), from grimp's graph of the ``hcc`` found on sys.path."""
    import grimp

    graph = grimp.build_graph("hcc", exclude_type_checking_imports=True, cache_dir=None)
    # Tarjan's strongly connected components, iteratively: a cycle lies inside one group.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def imports_of(module: str):
        return iter(sorted(graph.find_modules_directly_imported_by(module)))

    for start in sorted(graph.modules):
        if start in index:
            continue
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        work = [(start, imports_of(start))]
        while work:
            module, edges = work[-1]
            for imported in edges:
                if imported not in index:
                    index[imported] = low[imported] = len(index)
                    stack.append(imported)
                    on_stack.add(imported)
                    work.append((imported, imports_of(imported)))
                    break
                if imported in on_stack:
                    low[module] = min(low[module], index[imported])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    group = []
                    while group[-1:] != [module]:
                        group.append(stack.pop())
                        on_stack.discard(group[-1])
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def _report_cycles() -> int:
    cycles = import_cycles()
    for group in cycles:
        print("import cycle: " + " <-> ".join(group))
    print(f"Import cycles between modules: {len(cycles)}")
    return 1 if cycles else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    # Internal: run in a fresh interpreter whose sys.path finds the copy first.
    parser.add_argument("--cycles-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cycles_only:
        return _report_cycles()
    root = args.root.resolve()
    lint_imports = shutil.which("lint-imports", path=os.path.dirname(sys.executable))
    if lint_imports is None:
        print(
            "lint_imports: lint-imports is not installed (pip install -e '.[test]')",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="hcc-imports.") as tmp:
        installed_layout(root, Path(tmp))
        env = dict(os.environ, PYTHONPATH=tmp)
        contracts = subprocess.call(
            [lint_imports, "--no-cache", str(root / "pyproject.toml")], cwd=tmp, env=env
        )
        sys.stdout.flush()
        cycles = subprocess.call(
            [sys.executable, os.path.abspath(__file__), "--cycles-only"], cwd=tmp, env=env
        )
        return contracts or cycles


if __name__ == "__main__":
    sys.exit(main())
