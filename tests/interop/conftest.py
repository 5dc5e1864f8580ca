"""Models for the interop tests: exported from transformers configs, once per test session.

Each model is exported with ``hcc.export`` (every node tagged) and saved with external data.
The torch module itself is not kept, only the facts the tests check tags against: for every
module path, its class name and whether torch.nn defines it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from _models import export_module, small_module

# The full-depth GPT-2 is the session-wide export of tests/conftest.py (with its LM head).
SHARED = {"gpt2-12": "gpt2_12_layers"}
DEFAULT_MODELS = ("bert", "gpt2", "llama")


@dataclass
class Source:
    """An exported model on disk and the module tree its tags must name."""

    name: str
    path: str
    modules: dict[str, tuple[str, bool]]  # module path -> (class name, defined by torch.nn)

    def is_real_scope(self, scope) -> bool:
        """True if ``scope`` is a module of the source model as the tag rules write it: every
        level a module of the right class, the levels being its non-torch.nn ancestors."""
        levels = list(reversed(list(scope.ancestors(include_self=True))))
        if scope.is_unknown or levels[0].module_path != "":
            return False
        for level in levels:
            entry = self.modules.get(level.module_path)
            if entry is None or level.class_name.split(".")[0] != entry[0]:
                return False
            if level.depth > 0 and entry[1]:
                return False
        expected = _non_builtin_chain(scope.module_path, self.modules)
        return [level.module_path for level in levels] == expected


def _non_builtin_chain(path: str, modules) -> list[str]:
    tokens = path.split(".") if path else []
    chain = [""]
    for i in range(1, len(tokens) + 1):
        prefix = ".".join(tokens[:i])
        if prefix in modules and not modules[prefix][1]:
            chain.append(prefix)
    return chain


def _export(name: str, folder) -> tuple[str, object]:
    import hcc.ir as ir

    module = small_module(name)
    model, _ = export_module(module)
    path = str(folder / "model.onnx")
    ir.save(model, path)
    return path, module


def _source(name: str, path: str, module) -> Source:
    modules = {
        p: (type(m).__name__, type(m).__module__.startswith("torch.nn"))
        for p, m in module.named_modules()
    }
    return Source(name, path, modules)


@pytest.fixture(scope="session")
def exported(request, tmp_path_factory):
    """``exported(name)``: the :class:`Source` of a model of :data:`_models.SMALL` or :data:`SHARED`,
    built on first use."""
    cache: dict[str, Source] = {}

    def get(name: str) -> Source:
        if name not in cache:
            if name in SHARED:
                shared = request.getfixturevalue(SHARED[name])
                cache[name] = _source(name, shared.path, shared.module)
            else:
                cache[name] = _source(name, *_export(name, tmp_path_factory.mktemp(name)))
        return cache[name]

    return get


def feeds_for(session, seed: int = 1) -> dict[str, np.ndarray]:
    """Inputs for an exported transformer: token ids below 1000 (every test vocabulary is
    larger), a full attention mask, zero token types."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in session.get_inputs():
        if "mask" in spec.name:
            feeds[spec.name] = np.ones((2, 16), np.int64)
        elif "type" in spec.name:
            feeds[spec.name] = np.zeros((2, 16), np.int64)
        else:
            feeds[spec.name] = rng.integers(0, 1000, size=(2, 16), dtype=np.int64)
    return feeds


@pytest.fixture(scope="session")
def run_ort():
    """``run_ort(model_or_path)``: outputs of onnxruntime on fixed inputs (a path, a ModelProto
    or an hcc IR model)."""
    import onnxruntime as ort

    import hcc.ir as ir

    def run(model):
        if isinstance(model, ir.Model):
            model = ir.to_onnx(model)
        source = model if isinstance(model, str) else model.SerializeToString()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        return session.run(None, feeds_for(session))

    return run


def tag_coverage(proto) -> float:
    """Share of the proto's main-graph nodes that carry an ``hcc.tag``."""
    nodes = list(proto.graph.node)
    tagged = sum(1 for n in nodes if any(p.key == "hcc.tag" for p in n.metadata_props))
    return tagged / len(nodes)


@pytest.fixture(scope="session")
def coverage():
    return tag_coverage
