"""Validation against PyTorch: the exported model and its pieces against the module itself.

Checking pieces against the whole model only shows that the cut changed nothing; this module
checks the ONNX result against what it stands for. The same generated inputs
(:func:`hcc.ort.generated_inputs`, within the model's tables) go to onnxruntime and, by input
name, to the module's ``forward``; then

* every output of the whole model is compared with the module's output in the same position
  (``to_tuple`` order for transformers outputs, ``None`` entries left out, as the exporter
  does);
* every output of every piece (its boundary tensors) is compared with the output of a torch
  module it stands for, captured with forward hooks on the modules that can return it (those
  around its maker that hand it out, see :func:`_candidates`): of their output tensors of the
  same shape and dtype, the closest one. A boundary tensor that no module returns (a mask or a
  shape computed between modules, a sum made and read inside one module) is listed as not
  compared; the model outputs and the pieces-against-whole check cover it.

All comparisons go through :func:`hcc.deviation.deviation`: a NaN, a shape or a dtype that
differ is a failure whatever the tolerance.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import hcc.ir as ir
from hcc.ir import HIERARCHY_KEY
from hcc.passes.recover_scopes import module_stack

from .deviation import Deviation, deviation
from .ort import Session, generated_inputs

LABELS = ("torch", "onnx")
DEFAULT_TOLERANCE = 1e-4


@dataclass
class BoundaryCheck:
    """One piece output compared with the torch module output it stands for (or with none)."""

    piece: str
    output: str
    module: str | None  # module path ("" is the root), None when no module returns its like
    deviation: Deviation | None

    @property
    def label(self) -> str:
        where = f"{self.module or '<root>'}" if self.module is not None else "no module"
        return f"{self.piece}: {self.output} ({where})"


@dataclass
class TorchValidation:
    """Deviations from torch: of each whole-model output, and of each piece boundary tensor."""

    whole: list[Deviation] = field(default_factory=list)
    pieces: list[BoundaryCheck] = field(default_factory=list)

    @property
    def compared(self) -> list[Deviation]:
        return self.whole + [c.deviation for c in self.pieces if c.deviation is not None]

    def failures(self, tolerance: float) -> list[str]:
        problems = [
            f"output {d.name!r} of the whole model: {d.describe()}"
            for d in self.whole
            if not d.within(tolerance)
        ]
        problems += [
            f"{c.label}: {c.deviation.describe()}"
            for c in self.pieces
            if c.deviation is not None and not c.deviation.within(tolerance)
        ]
        return problems

    def summary_lines(self) -> list[str]:
        lines = [f"max abs deviation from torch of {d.name}: {d.describe()}" for d in self.whole]
        for check in self.pieces:
            if check.deviation is None:
                lines.append(
                    f"piece {check.piece}: {check.output} is no module's output "
                    "(not compared with torch)"
                )
            else:
                lines.append(
                    f"max abs deviation from torch of piece {check.label}: "
                    f"{check.deviation.describe()}"
                )
        return lines

    def as_dict(self) -> dict:
        return {
            "whole": [d.as_dict() for d in self.whole],
            "pieces": [
                {
                    "piece": c.piece,
                    "output": c.output,
                    "module": c.module,
                    "deviation": c.deviation.as_dict() if c.deviation else None,
                }
                for c in self.pieces
            ],
        }


def validate_against_torch(
    module,
    whole_path: str,
    manifest_path: str | None = None,
    *,
    seed: int = 0,
    batch: int = 2,
    seq: int = 16,
    optimization: str = "basic",
) -> TorchValidation:
    """Run ``module`` and the ONNX model at ``whole_path`` (and, with a manifest, its pieces
    chained) on the same generated inputs; return every deviation (see the module doc)."""
    whole = Session(whole_path, optimization=optimization, what="the whole model")
    model = ir.load(whole_path)
    feeds = generated_inputs(whole, model, batch=batch, seq=seq, seed=seed)
    manifest = _read_manifest(manifest_path) if manifest_path else None
    candidates = _candidates(model, manifest) if manifest else {}
    hooked = sorted({p for paths in candidates.values() for p in paths})
    outputs, captured = run_torch(module, feeds, hooked)
    onnx_outputs = whole.run(feeds)
    result = TorchValidation(whole=_compare_outputs(outputs, onnx_outputs))
    if manifest:
        from .validate import run_pieces

        values = run_pieces(manifest_path, feeds, optimization=optimization)
        for entry in manifest["pieces"]:
            for output in entry["outputs"]:
                name = output["name"]
                modules = candidates[(entry["name"], name)]
                result.pieces.append(_closest(entry["name"], name, values[name], modules, captured))
    return result


def run_torch(
    module, feeds: dict[str, np.ndarray], hooked: list[str] = ()
) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """The module's output tensors for ``feeds`` (passed by input name), and the output tensors
    of each module path in ``hooked`` (its last call), all as numpy arrays."""
    import torch

    kwargs = torch_inputs(module, feeds)
    modules = dict(module.named_modules())
    captured: dict[str, list[np.ndarray]] = {}
    handles = []
    for path in hooked:
        if path not in modules:
            raise ir.HccError(
                f"the module has no submodule {path!r}, which the model's scopes "
                "name; is it the module the model was exported from?"
            )

        def hook(_module, _args, output, path=path):
            captured[path] = [t.detach().numpy().copy() for t in flatten(output)]

        handles.append(modules[path].register_forward_hook(hook))
    module.eval()
    try:
        with torch.no_grad():
            outputs = module(**kwargs)
    except Exception as error:  # the module's own error on inputs the ONNX model accepted
        text = str(error).strip()
        why = f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__
        raise ir.HccError(f"the torch module failed on the validation inputs: {why}") from error
    finally:
        for handle in handles:
            handle.remove()
    return [t.detach().numpy() for t in flatten(outputs)], captured


def torch_inputs(module, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    """``feeds`` as keyword tensors of ``module.forward``: the exporter names ONNX inputs after
    the forward parameters they fill."""
    import inspect

    import torch

    try:
        parameters = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters.values())
    unknown = [name for name in feeds if name not in parameters and not takes_any]
    if unknown:
        raise ir.HccError(
            f"model input {unknown[0]!r} is not a parameter of {type(module).__name__}.forward "
            f"({', '.join(parameters)}): torch cannot be run on the same inputs"
        )
    return {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in feeds.items()}


def flatten(output) -> list:
    """The tensors of a module output in the order the exporter makes them graph outputs:
    ``to_tuple`` of a transformers output, ``None`` left out, nested sequences in order."""
    import torch

    if isinstance(output, torch.Tensor):
        return [output]
    if hasattr(output, "to_tuple"):
        output = output.to_tuple()
    if isinstance(output, dict):
        output = list(output.values())
    tensors = []
    if isinstance(output, (list, tuple)):
        for item in output:
            if item is not None:
                tensors.extend(flatten(item))
    return tensors


def _compare_outputs(
    torch_outputs: list[np.ndarray], onnx_outputs: dict[str, np.ndarray]
) -> list[Deviation]:
    names = list(onnx_outputs)
    if len(names) != len(torch_outputs):
        raise ir.HccError(
            f"the ONNX model has {len(names)} outputs ({', '.join(names)}) and the "
            f"torch module returns {len(torch_outputs)} tensors; they cannot be "
            "compared"
        )
    return [
        deviation(name, want, onnx_outputs[name], LABELS)
        for name, want in zip(names, torch_outputs)
    ]


def _closest(
    piece: str,
    name: str,
    value: np.ndarray,
    modules: list[str],
    captured: dict[str, list[np.ndarray]],
) -> BoundaryCheck:
    """The module output among ``modules``' that ``value`` stands for: same shape and dtype,
    smallest deviation (a comparable one before a problem)."""
    best: tuple[str, Deviation] | None = None
    for path in modules:
        for tensor in captured.get(path, []):
            if tensor.shape != value.shape or tensor.dtype != value.dtype:
                continue
            found = deviation(f"{piece}: {name}", tensor, value, LABELS)
            if best is None or (found.ok, -found.max_abs) > (best[1].ok, -best[1].max_abs):
                best = (path, found)
    if best is None:
        return BoundaryCheck(piece, name, None, None)
    return BoundaryCheck(piece, name, best[0], best[1])


def _read_manifest(path: str) -> dict:
    from .pieces import read_manifest

    return read_manifest(path)


def _candidates(model: ir.Model, manifest: dict) -> dict[tuple[str, str], list[str]]:
    """(piece, output) -> the module paths whose output that boundary tensor can be.

    A tensor is a module's output only if the module made it and hands it out: its producer
    lies in the module (the producer's own module or one around it) and some reader, or the
    graph's output list, lies outside. A tensor made and read inside one module (the sum of
    token and position embeddings a decoder computes before its first layer, handed from one
    piece to the next because the cut runs through that decoder) is no module's output; only
    these modules are looked at, or a same-shaped output of a module nearby (the embedding
    table's lookup) would be taken for it. A boundary tensor the whole model does not have
    falls back to the modules of its piece's scopes."""
    known = _module_paths(model)
    tree = {p for paths in known.values() for p in paths}
    graph_outputs = {v.name for v in model.graph.outputs}
    made: dict[str, tuple[str, list[str]]] = {}
    for node in model.graph.nodes:
        if node.scope.is_unknown:
            continue
        for value in node.outputs:
            readers = [_innermost(r) for r in value.consumers() if not r.scope.is_unknown]
            made[value.name] = (_innermost(node), readers)
    candidates: dict[tuple[str, str], list[str]] = {}
    for entry in manifest["pieces"]:
        for output in entry["outputs"]:
            name = output["name"]
            own = [p for tag in entry.get("scopes", []) for p in known.get(tag, ())]
            if name not in made:
                candidates[(entry["name"], name)] = own
                continue
            path, readers = made[name]
            leaves = name in graph_outputs
            paths = [
                m
                for m in _enclosing(path)
                if m in tree and (leaves or any(not _within(r, m) for r in readers))
            ]
            # The piece's own modules first: the encoder's last layer, not the whole model
            # that returns the encoder's output too.
            candidates[(entry["name"], name)] = sorted(paths, key=lambda m: m not in own)
    return candidates


def _innermost(node: ir.Node) -> str:
    """The path of the innermost module that ran ``node``: the exporter's record where there is
    one (it names the ``torch.nn`` module inside a scope, the embedding table or the norm, which
    the scope does not), else the scope's module."""
    stack = module_stack(node)
    return stack[-1][0] if stack else node.scope.module_path


def _enclosing(path: str) -> list[str]:
    """The module paths around ``path`` and ``path`` itself, outermost (the root, ``""``) first:
    of modules returning one tensor, the outermost is the one a piece stands for (the layer,
    not the norm that ends it)."""
    parts = path.split(".") if path else []
    return [".".join(parts[:i]) for i in range(len(parts) + 1)]


def _within(path: str, module: str) -> bool:
    return not module or path == module or path.startswith(module + ".")


def _module_paths(model: ir.Model) -> dict[str, list[str]]:
    """The module paths of every scope tag, from the model's module tree: the module itself,
    then the ``torch.nn`` modules inside it that share its tag (a piece may hand on what such a
    module returns, the decoder's embedding norm that an encoder-decoder's first piece
    computes, say, which its own module never returns)."""
    text = model.metadata_props.get(HIERARCHY_KEY)
    if not text:
        raise ir.HccError(
            "the whole model has no module tree (hcc.hierarchy): it was not "
            "exported by hcc, so its pieces cannot be matched to torch modules"
        )
    paths: dict[str, list[str]] = {}

    def walk(node: dict) -> None:
        if node.get("path") is not None and node.get("tag"):
            paths.setdefault(node["tag"], []).append(node["path"])
        for child in node.get("children", []):
            walk(child)

    walk(json.loads(text))
    return paths


def whole_path_of(manifest_path: str) -> str:
    manifest = _read_manifest(manifest_path)
    return os.path.join(manifest["folder"], manifest["whole"])
