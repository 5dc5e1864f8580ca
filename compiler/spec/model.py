"""Typed build settings: what a resolved spec asks ``hcc build`` to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hcc.frontend.load import ExportOptions, ModelSource
from hcc.passes._errors import SourceLocation
from hcc.passes.pipeline import PassSpec


@dataclass
class OutputSettings:
    directory: str
    name: str
    external_data_threshold: int = 1024
    reports: list[str] = field(default_factory=list)
    validate: bool = False
    tolerance: float = 0.0
    torch_tolerance: float = 1e-4
    weights: str = "load"  # or how the checkpoint's files reach the folder: link, copy, auto


@dataclass
class BuildSpec:
    """Everything ``hcc build`` needs, checked: source, export, pipeline, outputs."""

    path: str
    model_name: str
    source: ModelSource
    export: ExportOptions
    tagging: bool
    pipeline: list[PassSpec]
    output: OutputSettings
    params: dict[str, Any]
    files: list[str]  # the spec and every file it includes, in reading order
    recipe: dict[str, Any] | None = None  # the kv-cache recipe's settings, when asked for
    # Where the model section names its source (for messages; not part of what is built).
    source_location: SourceLocation | None = field(default=None, compare=False)
