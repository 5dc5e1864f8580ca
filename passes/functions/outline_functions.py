"""``outline-functions``: turn module scopes into model-local functions, one per structure.

Every chosen scope of the main graph becomes one call of a function in ``domain``. Scopes are
chosen as in ``split``: ``by`` is a glob over class paths or module paths (``'|'`` separates
alternatives), ``depth`` takes every scope at that depth. The outermost matches are outlined;
with ``nested`` the matches inside other matches are outlined too, innermost first, so a block's
function calls its attention's function.

What crosses the scope's boundary becomes the interface: values read inside but defined
outside are the inputs (in order of first use), values defined inside and read outside (or
graph outputs) the outputs. Initializers read inside are inputs too (``constants=inputs``), so
the layers of a model, which differ only in their weights, share one definition: scopes whose
bodies have the same structural key (see :mod:`.keys`) call the same function. With
``constants=inside`` initializers are copied into the body as Constant nodes instead (only
those up to ``inside_limit`` elements, when it is set), which shares a body only between scopes
with equal tensors.

Exporters share computations between layers: the mask or shape a first layer computes from
the model's inputs is read again by every later layer. A node whose result its own scope reads
and another scope being outlined reads too stays in the calling graph (with what it needs from
its scope) and is passed in; that keeps the first layer's body equal to the others'. A layer's
result read by the next layer is not affected: its own layer does not read it.

Scopes, names and metadata: see :mod:`.shared` for the relative tags of body nodes and the
record (``record=all|names|none``) a call site keeps so that ``inline-functions`` restores the
instance exactly. Function names come from the class of the scope without its index
(``GPT2Block``); a second structure with the same class name gets ``GPT2Block_2``.

Errors: a pattern matching no scope; a scope that cannot be one call because nodes outside it
run between its nodes, read from it and feed it again (for two chosen scopes, that is an
overlap without nesting); a scope whose results nothing reads.
"""

from __future__ import annotations

from hcc.ir import Graph, Model, Scope

from .._infra import Pass, PassResult
from .._options import Option
from .._registry import register_pass
from .._scope_patterns import ScopePattern, all_scopes, near, outermost
from .outliner import OutlineError, Outliner

__all__ = ["OutlineError", "OutlineFunctionsPass"]

# Domains whose operators ONNX defines: a function there would shadow a standard operator.
_RESERVED_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training")


@register_pass(
    "outline-functions",
    summary="turn module scopes into model-local functions, one definition per structure",
)
class OutlineFunctionsPass(Pass):
    """Each chosen scope becomes a call of a model-local function; structurally identical scopes
    (the layers of a model) share one definition. Scopes survive: body nodes carry tags relative
    to the function, the call node the scope's own tag, and `inline-functions` undoes the pass
    node for node. Only nodes of the main graph are outlined (a node's subgraphs go with it)."""

    by = Option(str, "", "glob over class paths or module paths of scopes; '|' separates globs")
    depth = Option(int, 0, "outline every scope at this depth (0: not used)", min=0)
    nested = Option(bool, False, "also outline chosen scopes inside other chosen scopes")
    domain = Option(str, "hcc.functions", "domain of the functions made")
    constants = Option(
        str,
        "inputs",
        "initializers read by a scope: passed in, or copied inside",
        choices=["inputs", "inside"],
    )
    inside_limit = Option(
        int,
        0,
        "with constants=inside, copy only tensors of at most this many elements (0: all)",
        min=0,
    )
    record = Option(
        str,
        "all",
        "what each call keeps for inline-functions: names, metadata "
        "and order (all), names and order (names), nothing (none)",
        choices=["all", "names", "none"],
    )

    def call(self, model: Model) -> PassResult:
        if self.domain in _RESERVED_DOMAINS:
            raise OutlineError(f"domain {self.domain!r} belongs to ONNX; choose another domain")
        chosen = self._choose(model.graph)
        outliner = Outliner(
            model,
            domain=self.domain,
            inside=self.constants == "inside",
            inside_limit=self.inside_limit,
            record=self.record,
        )
        changed = False
        # Innermost first: an outer body then calls the inner functions.
        for depth in sorted({s.depth for s in chosen}, reverse=True):
            changed |= outliner.outline([s for s in chosen if s.depth == depth])
        return PassResult(model, changed)

    def _choose(self, graph: Graph) -> list[Scope]:
        if bool(self.by) == bool(self.depth):
            raise OutlineError("give exactly one of by= or depth= to choose the scopes")
        every = all_scopes(graph)
        if self.by:
            pattern = ScopePattern(self.by)
            matches = [s for s in every if pattern.matches(s)]
            if not matches:
                raise OutlineError(f"pattern {self.by!r} matches no scope; {near(self.by, every)}")
        else:
            matches = [s for s in every if s.depth == self.depth]
            if not matches:
                deepest = max((s.depth for s in every), default=0)
                raise OutlineError(f"no scope at depth {self.depth}; the deepest is {deepest}")
        return matches if self.nested else outermost(matches)
