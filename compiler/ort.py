"""Running models in onnxruntime for hcc's checks: sessions with clear errors, generated inputs.

Every check that runs a model (``validate = true``, ``hcc validate-pieces``, ``hcc validate``,
``hcc compare`` and its bisect, the KV-cache runtime) makes its sessions with :class:`Session`,
so a model onnxruntime refuses is one ``hcc: error:`` line naming the file and onnxruntime's
reason, never a traceback.

Generated inputs stay within what the model can take: an integer input that indexes a table
(``Gather`` on an embedding, reached through casts and reshapes) gets values below the table's
row count, read from the model; one whose table cannot be found gets small values; masks are
all ones. A vocabulary of 50 tokens must validate as well as one of 50,000.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

import hcc.ir as ir
from hcc.ir import Model, Value

OPTIMIZATIONS = ("disabled", "basic", "extended", "all")

# Integer inputs whose table is not found get values below this (and below the sequence
# length): small enough for any real vocabulary, position table or type table.
SMALL_BOUND = 16
# A generated input holds at most this many values (1 GiB of float32): more is a typo in
# --batch/--seq or a model whose fixed dims no machine runs.
MAX_GENERATED_ELEMENTS = 2**28


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Session:
    """An onnxruntime CPU session of the model at ``path``.

    ``what`` names the model in messages (``piece 'MLPBlock.1'``) and ``location`` the file
    they point at (default ``path``; a temporary copy names its original); ``keep`` is held as
    long as the session (the temporary folder of a modified copy).
    """

    def __init__(
        self,
        path: str,
        *,
        optimization: str = "basic",
        what: str = "the model",
        location: str | None = None,
        keep=None,
    ) -> None:
        import onnxruntime as ort

        levels = {
            "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        if optimization not in levels:
            raise ir.HccError(
                f"optimization must be one of {', '.join(OPTIMIZATIONS)}, not {optimization!r}"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = levels[optimization]
        options.log_severity_level = 3
        self.path = str(path)
        self.what = what
        self.location = str(location or path)
        try:
            self.session = ort.InferenceSession(
                self.path, options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise ir.HccError(
                f"onnxruntime cannot load {what}: {_first_line(error)}", location=self.location
            ) from None
        self._keep = keep

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray], names: list[str] | None = None) -> dict:
        """The outputs (``names``, default all) by name."""
        try:
            results = self.session.run(names, feeds)
        except Exception as error:
            raise ir.HccError(
                f"onnxruntime failed to run {self.what}: {_first_line(error)}",
                location=self.location,
            ) from None
        return dict(zip(names or self.output_names, results))


# ONNX Runtime's type strings -> numpy dtypes of the inputs hcc can generate.
_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


def generated_inputs(
    session, model: Model | None = None, *, batch: int = 2, seq: int = 16, seed: int = 0
) -> dict[str, np.ndarray]:
    """Inputs for ``session`` (a :class:`Session` or an onnxruntime session).

    Symbolic dims become ``batch`` (the first) or ``seq``. Floats are normal noise; masks and
    booleans are ones; other integers are below the row count of the table they index in
    ``model`` (the IR of the same model), else below :data:`SMALL_BOUND` and ``seq``.
    """
    ort_session = getattr(session, "session", session)
    limits = index_limits(model) if model is not None else {}
    rng = np.random.default_rng(seed)
    feeds = {}
    for meta in ort_session.get_inputs():
        shape = [
            d if isinstance(d, int) and d >= 0 else (batch if i == 0 else seq)
            for i, d in enumerate(meta.shape)
        ]
        count = math.prod(shape)
        if count > MAX_GENERATED_ELEMENTS:
            raise ir.HccError(
                f"input {meta.name!r} of shape {shape} would hold {count} "
                f"values; hcc generates at most {MAX_GENERATED_ELEMENTS} (lower "
                "--batch or --seq, or the model's fixed dims are absurd)"
            )
        dtype = _input_dtype(meta.type)
        if dtype is None:
            raise ir.HccError(
                f"input {meta.name!r} is of type {meta.type}; hcc can only "
                "generate numeric and boolean tensors"
            )
        if dtype == np.bool_ or (np.issubdtype(dtype, np.integer) and "mask" in meta.name):
            feeds[meta.name] = np.ones(shape, dtype)
        elif np.issubdtype(dtype, np.integer):
            high = limits.get(meta.name) or max(1, min(SMALL_BOUND, seq))
            feeds[meta.name] = rng.integers(0, high, shape).astype(dtype)
        else:
            feeds[meta.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def _input_dtype(type_string: str):
    if type_string == "tensor(bfloat16)":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    found = _NUMPY_TYPES.get(type_string)
    return None if found is None else np.dtype(found)


# Operators that hand an integer input's values on unchanged (reordered, reshaped, repeated,
# widened): an index still indexes after them. (input position that carries the values, or
# None for all inputs.)
_VALUE_CARRIERS = {
    "Cast": 0,
    "Identity": 0,
    "Reshape": 0,
    "Unsqueeze": 0,
    "Squeeze": 0,
    "Flatten": 0,
    "Expand": 0,
    "Slice": 0,
    "Transpose": 0,
    "Tile": 0,
    "Split": 0,
    "Gather": 0,
    "Concat": None,
}
_INDEXING = {"Gather": (1, 0)}  # op -> (indices input, data input)


def index_limits(model: Model) -> dict[str, int]:
    """For each integer graph input that ends up indexing a table (the indices of a Gather,
    possibly through casts, reshapes and the like), the smallest row count it indexes."""
    limits: dict[str, int] = {}
    graph = model.graph
    for value in graph.inputs:
        dtype = value.dtype
        if not isinstance(dtype, ir.DataType) or not _is_integer(dtype):
            continue
        rows = _rows_indexed(value)
        if rows:
            limits[value.name] = min(rows)
    return limits


def _is_integer(dtype: ir.DataType) -> bool:
    return dtype in (
        ir.DataType.INT8,
        ir.DataType.INT16,
        ir.DataType.INT32,
        ir.DataType.INT64,
        ir.DataType.UINT8,
        ir.DataType.UINT16,
        ir.DataType.UINT32,
        ir.DataType.UINT64,
    )


def _rows_indexed(start: Value, reach: int = 64) -> list[int]:
    """Row counts of the tables ``start``'s values index, following value carriers for at most
    ``reach`` values."""
    rows: list[int] = []
    seen = {start}
    queue = deque([start])
    while queue and len(seen) <= reach:
        value = queue.popleft()
        for user, index in value.uses:
            if user.op_type in _INDEXING and user.domain in ("", "ai.onnx"):
                indices, data = _INDEXING[user.op_type]
                if index == indices:
                    count = _table_rows(user.inputs[data], int(user.attr("axis", 0)))
                    if count:
                        rows.append(count)
                    continue
            carried = (
                _VALUE_CARRIERS.get(user.op_type, -1) if user.domain in ("", "ai.onnx") else -1
            )
            if carried is None or carried == index:
                for out in user.outputs:
                    if out is not None and out not in seen:
                        seen.add(out)
                        queue.append(out)
    return rows


def _table_rows(table: Value | None, axis: int) -> int | None:
    """The size of ``table`` along ``axis`` when known (an initializer's shape, a typed value,
    or through a Cast/Identity of one)."""
    for _ in range(4):
        if table is None:
            return None
        shape = table.shape
        if shape is not None and -len(shape) <= axis < len(shape):
            dim = shape[axis]
            if isinstance(dim, int) and dim > 0:
                return dim
        producer = table.producer
        if producer is None or producer.op_type not in ("Cast", "Identity") or not producer.inputs:
            return None
        table = producer.inputs[0]
    return None
