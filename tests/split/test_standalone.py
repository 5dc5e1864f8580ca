"""Standalone equality (seed 003): the piece extracted for a module computes what that module
computes. The module is found from the piece's scope (its module path), its inputs and output
are captured with a forward hook during a torch run, and the piece runs in onnxruntime on the
captured tensors (plus the model inputs it reads)."""

from __future__ import annotations

import numpy as np
import split_support as kit
import torch

from hcc.passes.pieces import pieces_of


def capture(module: torch.nn.Module, feeds: dict[str, np.ndarray], path: str) -> dict:
    """The arguments and result of the submodule at ``path`` when ``module`` runs on ``feeds``."""
    target = dict(module.named_modules())[path]
    seen: dict = {}

    def hook(_, args, kwargs, output):
        seen.update(args=args, kwargs=kwargs, output=output)

    handle = target.register_forward_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            module(**{name: torch.from_numpy(array) for name, array in feeds.items()})
    finally:
        handle.remove()
    return seen


def _float_tensors(*items) -> list[np.ndarray]:
    found = []
    for item in items:
        if isinstance(item, torch.Tensor) and item.dtype.is_floating_point:
            found.append(item.numpy())
        elif isinstance(item, (tuple, list)):
            found += _float_tensors(*item)
    return found


def _fits(described: dict, array: np.ndarray) -> bool:
    shape = described["shape"]
    return len(shape) == array.ndim and all(
        not isinstance(d, int) or d == n for d, n in zip(shape, array.shape)
    )


def _match(described: dict, arrays: list[np.ndarray]) -> np.ndarray:
    """The one captured tensor whose rank and static dims fit a boundary tensor."""
    fitting = [a for a in arrays if _fits(described, a)]
    assert len(fitting) == 1, f"{described['name']}: {len(fitting)} captured tensors fit"
    return fitting[0]


def check_pieces_against_modules(built: kit.Built, manifest: dict) -> list[float]:
    """Run every piece chosen for one module against that module; returns the deviations."""
    model_inputs = set(built.feeds)
    by_name = {entry["name"]: entry for entry in manifest["pieces"]}
    deviations = []
    for piece in pieces_of(built.model):
        if len(piece.scopes) != 1:
            continue  # embeddings / head: no single module to compare with
        seen = capture(built.module, built.feeds, piece.scopes[0].module_path)
        entry = by_name[piece.name]
        arguments = _float_tensors(*seen["args"], *seen["kwargs"].values())
        feeds = {}
        for described in entry["inputs"]:
            name = described["name"]
            feeds[name] = (
                built.feeds[name] if name in model_inputs else _match(described, arguments)
            )
        outputs = kit.session(entry["path"]).run(None, feeds)
        results = _float_tensors(seen["output"])
        compared = 0
        for got in outputs:
            fitting = [r for r in results if r.shape == got.shape]
            if fitting:
                deviations.append(float(np.abs(got - fitting[0]).max()))
                compared += 1
        assert compared, f"no output of {piece.name} matches its module's result"
    return deviations


def test_each_layer_piece_computes_what_its_module_computes(any_model, tmp_path):
    manifest = kit.split(any_model, tmp_path, embeddings="own", head="own")
    deviations = check_pieces_against_modules(any_model, manifest)
    assert len(deviations) == {"gpt2": 4, "bert": 2, "llama": 2}[any_model.name]
    assert max(deviations) <= 1e-5


def test_pieces_below_the_layers_compute_what_their_modules_compute(bert, tmp_path):
    # Depth 3 of BERT: attention, intermediate and output of every layer, one piece each.
    manifest = kit.split(bert, tmp_path, depth=3, embeddings="own", head="own")
    # Every layer has the same three classes: pieces are named by module path instead.
    assert [e["name"] for e in manifest["pieces"][1:-1]] == [
        f"encoder.layer.{i}.{part}"
        for i in range(2)
        for part in ("attention", "intermediate", "output")
    ]
    deviations = check_pieces_against_modules(bert, manifest)
    assert len(deviations) == 6
    assert max(deviations) <= 1e-5


def test_modules_are_found_from_piece_scopes_not_from_names(gpt2):
    from hcc.passes import run

    run(gpt2.model, f"split(by={gpt2.layers!r})")
    paths = [p.scopes[0].module_path for p in pieces_of(gpt2.model)]
    assert paths == [f"transformer.h.{i}" for i in range(4)]
    modules = dict(gpt2.module.named_modules())
    assert [type(modules[p]).__name__ for p in paths] == ["GPT2Block"] * 4
