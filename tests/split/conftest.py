"""Session-wide models for the split tests: each is exported once (5-15 s apiece).

The helpers live in ``_support.py``; it is registered as the module ``split_support`` here so
test files can import it under pytest's importlib import mode.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_support.py")
_spec = importlib.util.spec_from_file_location("split_support", _path)
support = importlib.util.module_from_spec(_spec)
sys.modules["split_support"] = support
_spec.loader.exec_module(support)


@pytest.fixture(scope="session")
def gpt2():
    return support.build("gpt2")


@pytest.fixture(scope="session")
def bert():
    return support.build("bert")


@pytest.fixture(scope="session")
def llama():
    return support.build("llama")


@pytest.fixture(params=["gpt2", "bert", "llama"])
def any_model(request):
    return request.getfixturevalue(request.param)
