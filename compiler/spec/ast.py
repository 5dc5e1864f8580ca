"""The syntax tree of a spec file, as written: every node knows where it is in its file.

The resolver (``resolve.py``) turns this tree into typed build settings; the formatter prints it
back canonically. Nothing here has meaning yet: ``$refs`` are unresolved, names unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hcc.passes._errors import SourceLocation


@dataclass
class Literal:
    """A string, number or boolean. ``word`` marks a bare word (a string written unquoted)."""

    value: Any
    loc: SourceLocation
    word: bool = False


@dataclass
class Ref:
    """``$name``: the value of a parameter."""

    name: str
    loc: SourceLocation


@dataclass
class ListValue:
    items: list[Value]
    loc: SourceLocation


Value = Literal | Ref | ListValue


@dataclass
class Assign:
    key: str
    value: Value
    loc: SourceLocation  # of the key


@dataclass
class Include:
    path: str
    loc: SourceLocation


@dataclass
class Param:
    name: str
    type: str
    default: Value | None
    loc: SourceLocation
    type_loc: SourceLocation


@dataclass
class ModelSection:
    name: str
    kind: str
    reference: Value
    options: list[Assign]
    config: list[Assign] | None
    loc: SourceLocation
    kind_loc: SourceLocation
    end_line: int = 0  # line of the closing brace, for comments before it
    config_line: int = 0  # line of the (first) ``config {``, to print it where it was
    config_end_line: int = 0  # line of its closing brace, for comments before it


@dataclass
class InputDecl:
    name: str
    dtype: str
    dims: list[Value]  # integers (static) or bare words (named, dynamic); checked later
    sizes: Value | None
    loc: SourceLocation
    dtype_loc: SourceLocation


@dataclass
class InputsSection:
    inputs: list[InputDecl]
    options: list[Assign]
    loc: SourceLocation
    end_line: int = 0  # line of the closing brace, for comments before it


@dataclass
class Block:
    """``name { key = value ... }`` inside a section (the kv-cache recipe's ``names``)."""

    name: str
    entries: list[Assign]
    loc: SourceLocation  # of the name
    end_line: int = 0  # line of the closing brace, for comments before it


@dataclass
class ExportSection:
    options: list[Assign]
    loc: SourceLocation
    end_line: int = 0  # line of the closing brace, for comments before it
    blocks: list[Block] = field(default_factory=list)


@dataclass
class PassCall:
    name: str
    args: list[Assign]
    loc: SourceLocation


@dataclass
class PipelineSection:
    passes: list[PassCall]
    loc: SourceLocation
    end_line: int = 0  # line of the closing brace, for comments before it


@dataclass
class OutputSection:
    path: Value
    options: list[Assign]
    loc: SourceLocation
    end_line: int = 0  # line of the closing brace, for comments before it


Item = (
    Include | Param | ModelSection | InputsSection | ExportSection | PipelineSection | OutputSection
)


@dataclass
class Comment:
    text: str
    line: int
    own_line: bool  # alone on its line (else trailing after code)


@dataclass
class SpecFile:
    path: str
    text: str
    items: list[Item]
    comments: list[Comment] = field(default_factory=list)
