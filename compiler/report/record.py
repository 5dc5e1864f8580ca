"""The build record: what only the build itself knows, kept beside its outputs.

A build's folder holds the model (and its pieces and manifest); the report reads those again.
What they cannot tell is how the build went: each pass's time and node counts, and the
validation deviations. The build writes that to ``NAME.build.json`` so that ``hcc report DIR``
shows the same page later. The record is plain JSON (``format: hcc.build/1``); a missing or
damaged record leaves those sections out of the page, it never stops the report.
"""

from __future__ import annotations

import json
import os
from typing import Any

import hcc.ir as ir

FORMAT = "hcc.build/1"
SUFFIX = ".build.json"


def record_of(result, changes=()) -> dict[str, Any]:
    """The record of a finished build (``hcc.driver.BuildResult``) and the pass changes its
    ``ChangeLog`` instrument counted (one per timing, in order)."""
    spec = result.spec
    out = spec.output
    changes = list(changes)
    passes = []
    for index, timing in enumerate(result.timings):
        change = changes[index] if index < len(changes) else None
        passes.append(
            {
                "name": timing.name,
                "seconds": timing.seconds,
                "changed": bool(timing.changed),
                "nodes_before": change.before.nodes if change else None,
                "nodes_after": change.after.nodes if change else None,
                "untagged_after": change.after.untagged if change else None,
                "ops": change.op_delta() if change else "",
            }
        )
    source = spec.source
    record: dict[str, Any] = {
        "format": FORMAT,
        "model": out.name,
        "spec": spec.path or "",
        "source": f"{source.kind} {source.reference}",
        "pipeline": passes if spec.recipe is None else None,  # a recipe runs no pipeline
        "warnings": list(result.warnings),
    }
    if result.deviations or result.torch is not None:
        record["validation"] = {
            "tolerance": out.tolerance,
            "torch_tolerance": getattr(out, "torch_tolerance", None),
            "pieces": [d.as_dict() for d in result.deviations],
            # Named "piece: tensor" by validate_boundaries; piece names (class segments) hold
            # no ": ".
            "boundaries": [
                dict(zip(("piece", "output"), d.name.split(": ", 1)), deviation=d.as_dict())
                for d in result.boundaries
            ],
            "torch": result.torch.as_dict() if result.torch is not None else None,
        }
    return record


def record_path(directory: str, name: str) -> str:
    return os.path.join(directory, f"{name}{SUFFIX}")


def dump(record: dict[str, Any]) -> str:
    # Deviations carry NaN and infinity as strings already (Deviation.as_dict).
    return json.dumps(record, indent=2, allow_nan=False) + "\n"


def read_record(directory: str, name: str | None) -> dict[str, Any] | None:
    """The record a build left in ``directory`` (for model ``name``), or None.

    Without a name the folder's only record is taken; with several, none (which build is
    meant cannot be guessed)."""
    if name is None:
        try:
            found = [f for f in os.listdir(directory) if f.endswith(SUFFIX)]
        except OSError:
            return None
        if len(found) != 1:
            return None
        path = os.path.join(directory, found[0])
    else:
        path = record_path(directory, name)
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return None
    return record


def check_directory(directory: str) -> str:
    if not os.path.isdir(directory):
        what = "not a folder" if os.path.exists(directory) else "no such folder"
        raise ir.HccError(f"{what}; give the folder a build wrote", location=directory)
    return directory
