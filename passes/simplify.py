"""``simplify``: run onnxsim (or onnxslim), optionally onnx-graphsurgeon, and keep the scopes.

The tools rewrite the graph and drop all node metadata. The pass records where every node came
from before calling them and re-attaches scopes afterwards (see :mod:`hcc.passes._reattach`):
by output value names, by node names, by the structure around nodes the tools made, and by the
ordinary tagging rules for the rest. Nodes of that last kind are listed by name in
``model.meta["hcc.unmatched_nodes"]`` (empty when every origin was found) for an instrument or
the CLI to report; the pass itself never prints.
"""

from __future__ import annotations

import tempfile

from hcc.ir import Model

from ._infra import Pass, PassResult
from ._options import Option
from ._reattach import Origins, reattach
from ._registry import register_pass

UNMATCHED_KEY = "hcc.unmatched_nodes"
REPORT_KEY = "hcc.reattached"
TOOLS = ("onnxsim", "onnxslim")


@register_pass("simplify", summary="simplify with onnxsim or onnxslim and re-attach every scope")
class SimplifyPass(Pass):
    """Simplify the model with onnxsim (constant folding, shape inference, op fusion) or
    onnxslim, then optionally fold constants and clean up with onnx-graphsurgeon.

    Every node of the result gets a scope: the one of the node it came from (same output value
    or same name), else one derived from the nodes around it, else one by the tagging rules;
    nodes of the last kind are listed in ``model.meta["hcc.unmatched_nodes"]``. Model metadata
    the tools drop (``hcc.hierarchy``, ...) is restored, and initializers get their users'
    scopes again if they had them. The result is a new model object with its weights in memory;
    when the tools change nothing the input model is returned unchanged.
    """

    tool = Option(str, "onnxsim", "the simplifier to run", choices=TOOLS)
    graphsurgeon = Option(
        bool, False, "afterwards fold constants and remove unused nodes with onnx-graphsurgeon"
    )

    def call(self, model: Model) -> PassResult:
        from hcc.ir import from_onnx

        origins = Origins.record(model)
        result = from_onnx(self._run_tools(model))
        if _signature(result) == _signature(model):
            return PassResult(model, False)
        report = reattach(result, origins)
        # The input's bookkeeping (e.g. the export folder holding its weights) stays with it.
        for key, value in model.meta.items():
            result.meta.setdefault(key, value)
        result.meta[UNMATCHED_KEY] = list(report.unmatched)
        result.meta[REPORT_KEY] = report
        return PassResult(result, True)

    def _run_tools(self, model: Model):
        from hcc.ir.onnx import tools

        if self.tool == "onnxsim":
            # onnxsim reads a file much faster than a proto handed over in memory (its native
            # code maps the weights itself); staging links the weight files instead of copying.
            with tempfile.TemporaryDirectory(prefix="hcc-simplify-") as folder:
                proto = tools.run_onnxsim(tools.stage_for_tool(model, folder))
        else:
            proto = tools.run_onnxslim(tools.proto_with_data(model))
        if self.graphsurgeon:
            proto = tools.graphsurgeon_cleanup(proto, fold=True)
        return proto


def _signature(model: Model) -> tuple:
    """What a simplifier can change: ops, their wiring, and the set of initializers."""
    graphs = []
    for graph in model.graphs():
        nodes = tuple(
            (
                n.domain,
                n.op_type,
                tuple(v.name if v is not None else "" for v in n.inputs),
                tuple(v.name for v in n.outputs),
            )
            for n in graph.nodes
        )
        graphs.append((nodes, tuple(sorted(graph.initializers))))
    return tuple(graphs)
