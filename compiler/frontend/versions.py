"""The opset and IR version an export is asked for, reached by exporting then lowering.

torch's dynamo exporter has implementations for opset 18 and above. Asked for less, it falls
back to onnx's version converter, which fails on most models (no down-adapters for Gelu,
Split-18, ConstantOfShape) and then keeps opset 18 with only a log line. So hcc exports at 18
and lowers with its own ``downgrade-ir`` pass, which keeps every node's scope; a target that
pass cannot reach is an error before anything is written.
"""

from __future__ import annotations

import hcc.ir as ir

from .sources import SourceError

DYNAMO_MIN_OPSET = 18  # torch.onnx's TORCHLIB_OPSET: the lowest opset it has implementations for


def export_opset(exporter: str, opset: int | None) -> int | None:
    """The opset to ask the exporter for: the target, or the lowest the dynamo exporter writes
    when the target is below it (the rest is done by :func:`lower`)."""
    if exporter == "dynamo" and opset is not None and opset < DYNAMO_MIN_OPSET:
        return DYNAMO_MIN_OPSET
    return opset


def check_reachable(exporter: str, opset: int | None, ir_version: int | None) -> None:
    """Refuse, before the (long) export, a target that lowering cannot reach."""
    from hcc.passes import get_pass

    reach = get_pass("downgrade-ir").options
    if exporter == "dynamo" and opset is not None and opset < reach["opset"].min:
        raise SourceError(
            f"opset {opset} is out of reach: the dynamo exporter writes opset "
            f"{DYNAMO_MIN_OPSET} at the lowest and downgrade-ir lowers to opset "
            f"{reach['opset'].min} at the lowest; --exporter torchscript writes older opsets "
            "itself"
        )
    if ir_version is not None and ir_version < reach["ir"].min:
        raise SourceError(
            f"IR version {ir_version} is out of reach: downgrade-ir lowers to IR "
            f"{reach['ir'].min} at the lowest"
        )


def model_opset(model: ir.Model) -> int | None:
    for domain in ("", "ai.onnx"):
        if domain in model.opset_imports:
            return model.opset_imports[domain]
    return None


def lower(model: ir.Model, opset: int | None, ir_version: int | None) -> ir.Model:
    """``model`` at ``opset`` (default domain) and ``ir_version`` (None: as it is), lowered with
    ``downgrade-ir``. Neither is ever raised: a newer format than the model's is an error."""
    current_opset = model_opset(model)
    target_opset = current_opset if opset is None else opset
    target_ir = model.ir_version if ir_version is None else ir_version
    if current_opset is not None and target_opset > current_opset:
        raise SourceError(
            f"the model is at opset {current_opset} and hcc lowers opsets, never "
            f"raises them: opset {target_opset} cannot be given to it"
        )
    if target_ir > model.ir_version:
        raise SourceError(
            f"the model is at IR version {model.ir_version} and hcc lowers IR "
            f"versions, never raises them: IR {target_ir} cannot be given to it"
        )
    if target_opset == current_opset and target_ir == model.ir_version:
        return model
    from hcc.passes import get_pass, run

    reach = get_pass("downgrade-ir").options
    low_opset, low_ir = reach["opset"].min, reach["ir"].min
    if target_opset < low_opset:
        raise SourceError(
            f"opset {target_opset} is out of reach: the model is at opset {current_opset} "
            f"(the dynamo exporter writes {DYNAMO_MIN_OPSET} at the lowest) and downgrade-ir "
            f"lowers to opset {low_opset} at the lowest; --exporter torchscript writes older "
            "opsets itself"
        )
    if target_ir < low_ir:
        raise SourceError(
            f"IR version {target_ir} is out of reach: downgrade-ir lowers to IR "
            f"{low_ir} at the lowest"
        )
    # A model above the pass's highest opset is lowered in one step from there (the pass
    # refuses a target above its range, not a source).
    return run(model, f"downgrade-ir(opset={target_opset}, ir={target_ir})")
