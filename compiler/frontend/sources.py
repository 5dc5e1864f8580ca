"""Model sources: a transformers config, a local pretrained folder, a Python factory, an ONNX file.

Every source is offline: configs build random weights from a fixed seed, local folders load with
``local_files_only`` and never run remote code, and nothing reaches a model hub.
Each source yields a :class:`LoadedModule` (module, example inputs, dynamic shapes).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any

from .errors import SourceError, suggest
from .inputs import InputSpec, default_inputs, example_inputs

__all__ = [  # the example inputs are a part of every source, read from here too
    "InputSpec",
    "LoadedModule",
    "SourceError",
    "TASKS",
    "default_inputs",
    "example_inputs",
]

# Task names map to transformers' Auto classes; these are generic tasks, not architectures.
TASKS = {
    "base": "AutoModel",
    "causal-lm": "AutoModelForCausalLM",
    "masked-lm": "AutoModelForMaskedLM",
    "seq2seq-lm": "AutoModelForSeq2SeqLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "image-classification": "AutoModelForImageClassification",
}


@dataclass
class LoadedModule:
    module: Any
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    dynamic_shapes: Any = None
    tokenizer: Any = None


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def _distinct_weights(module, seed: int) -> None:
    """Perturb every parameter slightly with seeded noise.

    Fresh models initialise e.g. every LayerNorm to ones; identical tensors may be merged by the
    exporter, and pieces of a split would then share weights by accident.
    """
    import torch

    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.dtype.is_floating_point:
                noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
                parameter.add_(noise * 0.02)


def from_config(
    model_type: str,
    overrides: dict[str, Any] | None = None,
    *,
    task: str = "base",
    seed: int = 0,
    distinct_weights: bool = True,
):
    """Build a transformers model from its config class, with seeded random weights."""
    config = build_config(model_type, overrides)
    if hasattr(config, "use_cache"):
        # The cache object is not an exportable output; KV-cache export builds its own.
        config.use_cache = False
    cls = _auto_class(task, config, model_type)
    _seed(seed)
    try:
        model = cls.from_config(config)
    except Exception as error:  # a bad override value surfaces as any error inside the model
        raise SourceError(
            f"cannot build {model_type} from its config: {type(error).__name__}: "
            f"{_first_line(error)}"
        ) from error
    if distinct_weights:
        _distinct_weights(model, seed)
    return model.eval()


def build_config(model_type: str, overrides: dict[str, Any] | None = None):
    """The transformers config of ``model_type`` with ``overrides``, each checked by name."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if model_type not in CONFIG_MAPPING:
        raise SourceError(
            f"unknown model type {model_type!r}{suggest(model_type, CONFIG_MAPPING.keys())}"
        )
    defaults = transformers.AutoConfig.for_model(model_type)
    known = set(defaults.to_dict()) | set(getattr(defaults, "attribute_map", {}))
    overrides = dict(overrides or {})
    for key in overrides:
        if key not in known:
            raise SourceError(f"{model_type} config has no option {key!r}{suggest(key, known)}")
    try:
        # Overrides go to the constructor, not onto a built config: values derived from them
        # (LLaMA's head_dim from hidden_size / num_attention_heads) are computed there.
        config = transformers.AutoConfig.for_model(model_type, **overrides)
    except Exception as error:  # the config class validates values with its own error types
        raise SourceError(
            f"cannot build {model_type} from its config: {_innermost(error)}"
        ) from error
    return config


def _auto_class(task: str, config=None, what: str = ""):
    """The Auto class for ``task``; with a config, check the task exists for that model."""
    import transformers

    if task not in TASKS:
        raise SourceError(
            f"unknown task {task!r}{suggest(task, TASKS) or ';'} tasks: {', '.join(TASKS)}"
        )
    cls = getattr(transformers, TASKS[task])
    if config is not None and type(config) not in cls._model_mapping:
        supported = [
            t
            for t, name in TASKS.items()
            if type(config) in getattr(transformers, name)._model_mapping
        ]
        raise SourceError(
            f"{what or type(config).__name__} has no {task!r} model; its tasks: "
            f"{', '.join(supported) or 'none'}"
        )
    return cls


def _innermost(error: BaseException) -> str:
    """``ValueError: first line`` of the error that started a chain (config validators wrap
    the useful message in one that only names the validator)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return f"{type(error).__name__}: {_first_line(error)}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _raised(error: BaseException) -> str:
    """``SystemExit(0)``, ``ValueError: bad size``: what user code raised, in one line."""
    if isinstance(error, SystemExit):
        return f"SystemExit({error.code!r}) (the code called sys.exit)"
    line = _first_line(error)
    return f"{type(error).__name__}: {line}" if line else type(error).__name__


def from_directory(path: str, *, task: str = "base"):
    """Load a pretrained model from a local folder (safetensors, local files only)."""
    if not os.path.isdir(path):
        raise SourceError(f"model folder not found: {path}")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise SourceError(f"{path} has no config.json; is it a transformers model folder?")
    _refuse_remote_code(path)
    _require_safetensors(path)
    import transformers

    try:
        config = transformers.AutoConfig.from_pretrained(
            path, local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError) as error:
        raise SourceError(f"cannot read the config in {path}: {_first_line(error)}") from None
    cls = _auto_class(task, config, path)
    try:
        model = cls.from_pretrained(
            path, local_files_only=True, trust_remote_code=False, use_safetensors=True
        )
    except (OSError, ValueError) as error:
        raise SourceError(f"cannot load model from {path}: {str(error).splitlines()[0]}") from None
    return model.eval()


def _refuse_remote_code(path: str) -> None:
    """A checkpoint whose config maps its classes to Python files in the checkpoint
    (``auto_map``) needs ``trust_remote_code``: code from the checkpoint, which hcc never runs."""
    import json

    try:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as error:
        raise SourceError(
            f"cannot read {os.path.join(path, 'config.json')}: {_first_line(error)}"
        ) from None
    if isinstance(config, dict) and config.get("auto_map"):
        raise SourceError(
            f"the model in {path} needs trust_remote_code (its config.json names code to run: "
            f"{', '.join(sorted(config['auto_map']))}); hcc never runs a checkpoint's own code. "
            "Wrap the model in a factory 'package.module:function' you have read instead"
        )


def _require_safetensors(path: str) -> None:
    """Pickled weights (``pytorch_model.bin``) can run code when loaded: read safetensors only."""
    names = os.listdir(path)
    if any(
        name.endswith(".safetensors") or name.endswith(".safetensors.index.json") for name in names
    ):
        return
    pickled = [n for n in names if n.endswith((".bin", ".pt", ".pth", ".ckpt"))]
    found = f" (it has {', '.join(sorted(pickled))})" if pickled else ""
    raise SourceError(
        f"{path} has no .safetensors weights{found}; hcc reads safetensors only, since pickled "
        "weights can run code when loaded. Convert them where you trust the file: "
        "model.save_pretrained(folder, safe_serialization=True)"
    )


# What ``save_pretrained`` of any transformers tokenizer writes. Without one of these, AutoTokenizer
# would build an empty tokenizer from the model type alone, and example text would become [UNK]s.
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")


def tokenizer_for(path: str):
    """The tokenizer that ships in a local model folder, or None."""
    import transformers

    if not any(os.path.isfile(os.path.join(path, name)) for name in TOKENIZER_FILES):
        return None
    try:
        return transformers.AutoTokenizer.from_pretrained(
            path, local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError) as error:
        raise SourceError(f"cannot load the tokenizer in {path}: {_first_line(error)}") from None


def from_factory(reference: str) -> LoadedModule:
    """Call ``package.module:function``; it returns a module, ``(module, args[, kwargs])`` or a
    dict with keys ``module`` and optionally ``args``, ``kwargs``, ``dynamic_shapes`` and
    ``tokenizer`` (used for example text)."""
    import torch

    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise SourceError(f"factory {reference!r} must be written 'package.module:function'")
    if not all(part.isidentifier() for part in module_name.split(".")):
        raise SourceError(
            f"factory module {module_name!r} is not a module name; write "
            "'package.module:function' with the package's folder on PYTHONPATH"
        )
    try:
        owner = importlib.import_module(module_name)
    except ImportError as error:
        raise SourceError(f"cannot import factory module {module_name!r}: {error}") from None
    except BaseException as error:  # noqa: BLE001 - even sys.exit() there is the module's failure
        raise SourceError(
            f"importing factory module {module_name!r} raised {_raised(error)}"
        ) from error
    if not hasattr(owner, attr):
        names = [n for n in dir(owner) if callable(getattr(owner, n)) and not n.startswith("_")]
        raise SourceError(f"{module_name!r} has no function {attr!r}{suggest(attr, names)}")
    function = getattr(owner, attr)
    if not callable(function):
        raise SourceError(
            f"factory {reference!r} is a {type(function).__name__}, not a function to call"
        )
    try:
        made = function()
    except BaseException as error:  # noqa: BLE001 - SystemExit(0) must not pass for a success
        raise SourceError(f"factory {reference!r} raised {_raised(error)}") from error
    if isinstance(made, torch.nn.Module):
        return LoadedModule(made)
    if isinstance(made, dict) and isinstance(made.get("module"), torch.nn.Module):
        unknown = set(made) - FACTORY_KEYS
        if unknown:
            raise SourceError(
                f"factory {reference!r} returned unknown keys {sorted(unknown)}; "
                f"known: {', '.join(sorted(FACTORY_KEYS))}"
            )
        return LoadedModule(
            made["module"],
            tuple(made.get("args", ())),
            dict(made.get("kwargs") or {}),
            made.get("dynamic_shapes"),
            made.get("tokenizer"),
        )
    if isinstance(made, tuple) and 1 <= len(made) <= 3 and isinstance(made[0], torch.nn.Module):
        args = tuple(made[1]) if len(made) > 1 else ()
        kwargs = dict(made[2]) if len(made) > 2 else {}
        return LoadedModule(made[0], args, kwargs)
    raise SourceError(
        f"factory {reference!r} returned {type(made).__name__}; expected a torch.nn.Module, "
        "(module, args[, kwargs]) or a dict with a 'module'"
    )


FACTORY_KEYS = {"module", "args", "kwargs", "dynamic_shapes", "tokenizer"}
