"""hcc: ONNX graph surgery that keeps every node's nn.Module scope."""

__version__ = "0.1.0"


def export(
    module, args=(), kwargs=None, *, dynamic_shapes=None, opset=None, exporter="dynamo", **options
):
    """Export a ``torch.nn.Module`` to an :class:`hcc.ir.Model` with a scope on every node.

    Mirrors ``torch.onnx.export``; see :func:`hcc.frontend.torch_export.export` for options.
    torch is imported only when this is called.
    """
    from .frontend.torch_export import export as _export

    return _export(
        module,
        args,
        kwargs,
        dynamic_shapes=dynamic_shapes,
        opset=opset,
        exporter=exporter,
        **options,
    )


def build(path_or_text, defines=None, **options):
    """Build a spec file (or spec text); returns a result with ``outputs`` (paths written),
    ``timings`` (per pass) and ``model`` (the final IR). See :func:`hcc.driver.build`."""
    from .driver import build as _build

    return _build(path_or_text, defines, **options)


def __getattr__(name):
    # ``hcc.interop`` imports the passes; load it on first use so ``import hcc`` stays light.
    if name == "interop":
        import importlib

        return importlib.import_module(f"{__name__}.interop")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
