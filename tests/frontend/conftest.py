"""Checks shared by the front-end tests, handed out as fixtures (test files do not import each
other): every node tagged, tags that follow the module tree, onnxruntime against torch."""

from __future__ import annotations

import numpy as np
import pytest


def non_builtin_chain(path: str, modules) -> list[str]:
    """Module paths from the root down to ``path``, skipping ``torch.nn`` built-ins."""
    tokens = path.split(".") if path else []
    chain = [""]
    for i in range(1, len(tokens) + 1):
        prefix = ".".join(tokens[:i])
        if prefix in modules and not type(modules[prefix]).__module__.startswith("torch.nn"):
            chain.append(prefix)
    return chain


def check_tags_follow_modules(module, model) -> None:
    """Every node has a scope naming an existing, non-built-in module (the root aside), its
    chain of levels is that module's chain of non-built-in ancestors, and the stored
    ``hcc.tag``/``hcc.module`` agree with the scope."""
    modules = dict(module.named_modules())
    for node in model.all_nodes():
        scope = node.scope
        assert not scope.is_unknown, node
        assert scope.module_path in modules, node
        owner = modules[scope.module_path]
        assert scope.class_name.split(".")[0] == type(owner).__name__, node
        if scope.depth > 0:
            assert not type(owner).__module__.startswith("torch.nn"), node
        levels = [s.module_path for s in reversed(list(scope.ancestors(include_self=True)))]
        assert levels == non_builtin_chain(scope.module_path, modules), node
        assert node.metadata_props["hcc.module"] == scope.module_path
        assert node.metadata_props["hcc.tag"] == scope.tag


def flatten(output) -> list:
    """The tensors of a model output in ``to_tuple`` order (what the ONNX outputs follow)."""
    import torch

    if isinstance(output, torch.Tensor):
        return [output]
    if hasattr(output, "to_tuple"):
        output = output.to_tuple()
    if isinstance(output, dict):
        output = list(output.values())
    result = []
    for item in output:
        if item is not None:
            result.extend(flatten(item))
    return result


def ort_max_diff(module, path: str, batch: int, seq: int, *, seed: int = 0) -> float:
    """Largest absolute difference between onnxruntime on ``path`` and ``module`` in torch, on
    fresh default inputs of the given batch and sequence length."""
    import onnxruntime as ort
    import torch

    from hcc.frontend import sources

    defaults = sources.default_inputs(module, batch, seq)
    declared = [sources.InputSpec(s.name, s.dtype, s.dims, None) for s in defaults]
    kwargs, _ = sources.example_inputs(module, declared, seed=seed, batch=batch, seq=seq)
    if "attention_mask" in kwargs and batch > 1:
        kwargs["attention_mask"][1, -2:] = 0  # padding exercises the mask arithmetic
    with torch.no_grad():
        expected = flatten(module(**kwargs))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    actual = session.run(None, {i.name: kwargs[i.name].numpy() for i in session.get_inputs()})
    assert len(actual) == len(expected)
    worst = 0.0
    for got, want in zip(actual, expected):
        assert got.shape == tuple(want.shape)
        worst = max(worst, float(np.max(np.abs(got - want.numpy()))))
    return worst


@pytest.fixture(scope="session")
def checks():
    """The shared checks, as a namespace: ``checks.tags_follow_modules(module, model)``, ..."""

    class Checks:
        tags_follow_modules = staticmethod(check_tags_follow_modules)
        max_diff = staticmethod(ort_max_diff)
        flatten = staticmethod(flatten)

    return Checks
