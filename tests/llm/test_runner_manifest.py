"""A KV-cache manifest that is damaged or hostile is one HccError naming it, before any model
is loaded: fields of the wrong type, piece files outside the folder, a device instead of a
file."""

from __future__ import annotations

import json
import os

import pytest

from hcc.ir import HccError
from hcc.llm.recipe import FORMAT, MANIFEST
from hcc.llm.runtime import Runner

GOOD = {
    "format": FORMAT,
    "layers": 1,
    "options": {"max_len": 8, "static": False, "head": "logits"},
    "pieces": {"embedding": {"file": "embedding.onnx"}},
}

DAMAGED = {
    "not JSON": "{",
    "nested too deeply": "[" * 100_000 + "]" * 100_000,
    "a list": "[]",
    "no options": json.dumps({k: v for k, v in GOOD.items() if k != "options"}),
    "max_len text": json.dumps({**GOOD, "options": {**GOOD["options"], "max_len": "many"}}),
    "pieces a list": json.dumps({**GOOD, "pieces": []}),
    "piece file outside": json.dumps({**GOOD, "pieces": {"embedding": {"file": "../x.onnx"}}}),
    "piece file absolute": json.dumps({**GOOD, "pieces": {"embedding": {"file": "/x.onnx"}}}),
}


@pytest.mark.parametrize("text", DAMAGED.values(), ids=list(DAMAGED))
def test_a_damaged_manifest_is_one_error_naming_it(tmp_path, text):
    (tmp_path / MANIFEST).write_text(text)
    with pytest.raises(HccError) as caught:
        Runner(str(tmp_path))
    assert str(caught.value).startswith(f"{tmp_path / MANIFEST}: ")


def test_a_device_as_manifest_is_refused(tmp_path):
    os.symlink("/dev/zero", tmp_path / MANIFEST)
    with pytest.raises(HccError, match="is not a regular file"):
        Runner(str(tmp_path))
