"""The example pass of docs/writing-a-pass.md works as the page says."""

from __future__ import annotations

import re
from pathlib import Path

from hcc.passes import PassManager, PassRegistry, VerifyEach, _registry

PAGE = Path(__file__).resolve().parents[2] / "docs" / "writing-a-pass.md"


def _example_pass(monkeypatch):
    source = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)[0]
    # The example lives in passes/, so it imports relatively; run it from outside the package,
    # registering into a private registry so other tests do not see it.
    source = re.sub(r"from \.(_\w+) import", r"from hcc.passes.\1 import", source)
    registry = PassRegistry()
    monkeypatch.setattr(_registry, "DEFAULT_REGISTRY", registry)
    namespace: dict = {}
    exec(compile(source, str(PAGE), "exec"), namespace)
    return namespace["DropIdentitiesPass"], registry


def test_the_example_pass_registers_and_runs(monkeypatch, graph_builder, bert_scope):
    DropIdentities, registry = _example_pass(monkeypatch)
    assert "drop-identities" in registry

    b = graph_builder()
    x = b.input("x")
    inner = b.op("Identity", x, name="inner", scope=bert_scope)
    relu = b.op("Relu", inner, name="relu", scope=bert_scope)
    b.output(b.op("Identity", relu, name="last", scope=bert_scope))
    model = b.model()

    result = PassManager([DropIdentities()], [VerifyEach()]).run(model)
    assert result.changed
    assert [n.name for n in model.graph.nodes] == ["relu", "last"]
    assert not PassManager([DropIdentities()]).run(model).changed
    PassManager([DropIdentities(keep_outputs=False)], [VerifyEach()]).run(model)
    assert [n.name for n in model.graph.nodes] == ["relu"]
