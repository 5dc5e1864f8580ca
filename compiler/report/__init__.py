"""The build report as one HTML page (``report.html``): what a build made, at a glance.

:func:`report_folder` reads a build's folder (manifest, models and the build record written by
``hcc build``) and :func:`report_model` one ONNX file; both return the page's text, which
:func:`write_page` writes. ``hcc build`` writes the page when the spec asks for
``reports = [html]``; ``hcc report DIR`` and ``hcc analyze --format html`` call the same code.

* :mod:`.gather` — the facts, from the folder and the record;
* :mod:`.record` — the build record (pass times, node counts, deviations) kept beside the model;
* :mod:`.page`, :mod:`.validation`, :mod:`.charts`, :mod:`.assets`, :mod:`.text` — the HTML
  (the deviations in a module of their own), its SVG charts, its inline style and script, and
  escaping.
"""

from __future__ import annotations

import hcc.ir as ir

from .gather import gather_folder, gather_model
from .page import render
from .record import check_directory, read_record, record_of

PAGE = "report.html"

__all__ = ["PAGE", "read_record", "record_of", "report_folder", "report_model", "write_page"]


def report_folder(directory: str, record: dict | None = None) -> str:
    """The page for the build in ``directory`` (its own record unless ``record`` is given)."""
    return render(gather_folder(check_directory(directory), record))


def report_model(model: ir.Model, title: str) -> str:
    """The page for one model: its module tree and sizes."""
    return render(gather_model(model, title))


def write_page(path: str, text: str) -> str:
    """Write the page atomically (a failed write leaves the old page or none)."""
    from hcc.inspect._common import write_text

    write_text(path, text)
    return path
