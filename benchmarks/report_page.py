"""How large the HTML build report is and how long Chromium takes to show it.

    python benchmarks/report_page.py BUILD_DIR [--repeat 5]

Draws the page of a build folder (``hcc report``) and opens it in headless Chromium again and
again, each time in a fresh tab state (navigating away first). The figure is the page's own
navigation timing: from the start of the navigation to the end of its load event, which covers
parsing the HTML, styling, laying out the tree and tables, and running the search script. The
browser's start is not counted (it is paid once per session, whatever the page). For the
acceptance figure, build the 12-layer GPT-2 of the bundled spec first:

    hcc build specs/gpt2-layers.hx -D layers=12 -o build/gpt2-12-layers

The Chromium driver is the tests' (tests/report/chromium.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time


def _chromium_module():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "tests", "report", "chromium.py")
    spec = importlib.util.spec_from_file_location("hcc_report_chromium", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from hcc.report import report_folder

    started = time.perf_counter()
    text = report_folder(args.directory)
    drawn = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        page = os.path.join(folder, "report.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write(text)
        chromium = _chromium_module()
        browser = chromium.Chromium(chromium.executable())
        try:
            times, errors = [], []
            for _ in range(args.repeat):
                browser.call("Page.navigate", session=True, url="about:blank")
                loaded = browser.open(page)
                times.append(loaded.load_ms)
                errors += loaded.errors
        finally:
            browser.close()
    size = len(text.encode("utf-8"))
    print(f"page: {size} bytes ({size / 2**20:.2f} MB), drawn by hcc in {drawn * 1e3:.0f} ms")
    print(
        f"load in Chromium over {args.repeat} opens: median {statistics.median(times):.0f} ms, "
        f"max {max(times):.0f} ms"
    )
    print(f"console errors: {len(errors)}")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
