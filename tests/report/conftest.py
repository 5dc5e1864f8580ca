"""One build of the bundled GPT-2 layer spec shared by the report tests, and Chromium.

The build is the spec as shipped (two layers: two pieces and a boundary between them, the
embeddings and the head with the first and last), with its validation and its ``html`` report.
Chromium is Debian's ``chromium``, which ``.ci/run`` installs: without it the browser tests
fail rather than skip, since a report nobody opened is not checked.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from chromium import Chromium, executable  # noqa: E402

SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.fixture(scope="session")
def gpt2_build(tmp_path_factory):
    """``(folder, BuildResult)`` of ``specs/gpt2-layers.hx -D layers=2``."""
    import hcc

    folder = tmp_path_factory.mktemp("gpt2-layers") / "build"
    # From the repository's root, as its README builds it: the page names specs/gpt2-layers.hx.
    here = os.getcwd()
    os.chdir(SPECS.parent)
    try:
        result = hcc.build("specs/gpt2-layers.hx", {"layers": "2"}, output_dir=str(folder))
    finally:
        os.chdir(here)
    return folder, result


@pytest.fixture(scope="session")
def browser():
    path = executable()
    if path is None:
        pytest.fail(
            "Chromium is not installed: bash .ci/install-chromium (the README test command and .ci/run run it); "
            "the report is checked in a real browser"
        )
    chromium = Chromium(path)
    yield chromium
    chromium.close()


@pytest.fixture
def screenshot(browser, tmp_path):
    """``screenshot(name)``: a PNG of the open page. With HCC_REPORT_SCREENSHOTS=DIR it is kept
    there as well (that is how the docs' picture is made)."""

    def take(name: str, **options) -> Path:
        png = browser.screenshot(tmp_path / name, **options)
        target = os.environ.get("HCC_REPORT_SCREENSHOTS")
        if target:
            os.makedirs(target, exist_ok=True)
            shutil.copy(png, os.path.join(target, name))
        return png

    return take
