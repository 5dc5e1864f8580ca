"""Looking at what hcc built: analysis, validation, comparison, JSON views, GraphML, reports.

Everything here works on :mod:`hcc.ir` objects (files are read with ``hcc.ir.load``); only
comparisons run onnxruntime. The command line is in :mod:`hcc.cli.inspect`; see
``docs/inspect.md``.

* :func:`analyze` — per-scope node counts, op histograms, weight bytes, tag coverage;
* :func:`validate_file` / :func:`repair` — checker, coverage, tags against ``hcc.hierarchy``;
* :func:`compare` / :func:`bisect` — per-scope differences, output deviations, and the first
  module whose outputs diverge;
* :func:`hierarchy_data`, :func:`dag_data`, :func:`op_metadata` — seed 003's JSON views;
* :func:`write_graphml` / :func:`read_graphml` — GraphML for yEd with a weights sidecar, and
  back;
* :func:`build_report` — the Markdown build report.
"""

from .analyze import analyze
from .bisect import bisect
from .compare import compare
from .consistency import repair, validate_file
from .dag import dag_data, hierarchy_data, op_metadata
from .graphml import write_graphml
from .graphml_import import import_graphml, read_graphml
from .report import build_report

__all__ = [
    "analyze",
    "bisect",
    "build_report",
    "compare",
    "dag_data",
    "hierarchy_data",
    "import_graphml",
    "op_metadata",
    "read_graphml",
    "repair",
    "validate_file",
    "write_graphml",
]
