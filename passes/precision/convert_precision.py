"""``convert-precision``: float32 weights and computation to float16 or bfloat16, by a policy
over module scopes.

``keep`` names modules that stay float32 (globs over class or module paths, as ``split``'s
``by``: ``*/LlamaRMSNorm|*/GPT2Block.0``); a node is kept when its scope or an ancestor
matches. ``keep_ops`` names operators that stay float32 wherever they are (the default list and
why: :mod:`.policy`). Casts appear only where a float32 node and a converted one meet, each
tagged with the scope it serves; the model's inputs and outputs keep their types unless
``io = converted``. Bodies of If/Loop/Scan and of model-local functions are converted too, with
their interfaces unchanged. Initializer values beyond the low type's range are clamped to it,
and a warning names each such tensor and the scope that reads it.

The Casts made are listed in ``model.meta["hcc.precision.casts"]`` (name and scope of each) for
the build summary and reports.
"""

from __future__ import annotations

from hcc.ir import DataType, HccError, Model

from .._errors import did_you_mean
from .._infra import Pass, PassResult
from .._options import Option
from .._registry import register_pass
from .._scope_patterns import all_scopes, near
from .policy import DEFAULT_KEEP_OPS, Policy
from .retype import Conversion

CASTS_KEY = "hcc.precision.casts"
LOW_TYPES = {"float16": DataType.FLOAT16, "bfloat16": DataType.BFLOAT16}


class PrecisionError(HccError):
    """The precision policy cannot be applied to this model."""


@register_pass(
    "convert-precision",
    summary="convert float32 weights and computation to float16/bfloat16, "
    "keeping chosen modules and ops in float32",
)
class ConvertPrecisionPass(Pass):
    dtype = Option(str, "float16", "the low-precision type", choices=list(LOW_TYPES))
    keep = Option(
        list[str],
        [],
        "modules that stay float32: globs over class or module paths ('|' separates globs)",
    )
    keep_ops = Option(list[str], list(DEFAULT_KEEP_OPS), "operators that stay float32 anywhere")
    io = Option(
        str,
        "keep",
        "model inputs and outputs: keep their types, or take the low type",
        choices=["keep", "converted"],
    )

    def call(self, model: Model) -> PassResult:
        policy = Policy(self.keep, self.keep_ops)
        if policy.scopes:
            every = all_scopes(model.graphs())
            missing = policy.scopes.unmatched(every)
            if missing:
                raise PrecisionError(
                    f"keep pattern {missing[0]!r} matches no scope; {near(missing[0], every)}"
                )
        _check_ops(self.keep_ops, model)
        conversion = Conversion(
            model, LOW_TYPES[self.dtype], policy, io_converted=self.io == "converted"
        )
        conversion.run()
        model.meta[CASTS_KEY] = [(c.name, c.scope.tag) for c in conversion.casts]
        limit = "65504" if self.dtype == "float16" else "3.39e38"
        warnings = tuple(
            f"initializer {c.tensor!r} (read in {c.scope}) has {c.count} value(s) beyond "
            f"{self.dtype}'s range (largest magnitude {c.largest:.4g}); clamped to ±{limit}"
            for c in conversion.clamped
        )
        changed = bool(conversion.casts or conversion.converted_tensors or conversion.retyped)
        return PassResult(model, changed, warnings)


ConvertPrecisionPass.__doc__ = __doc__


def _check_ops(names: list[str], model: Model) -> None:
    """Refuse an operator name that is neither in the model nor an ONNX operator (a typo would
    silently keep nothing)."""
    from hcc.ir.onnx.schemas import signature

    present = {n.op_type for n in model.all_nodes()}
    for name in names:
        if name not in present and signature("", name, 100) is None:
            raise PrecisionError(
                f"keep_ops names {name!r}, which is no ONNX operator and no "
                f"op of the model{did_you_mean(name, present)}"
            )
