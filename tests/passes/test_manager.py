"""The pass manager and its instruments: verify-each, timings, dumps, print-after-change."""

from __future__ import annotations

import io

import pytest

import hcc.passes
from hcc.ir import HccError, Model, VerificationError
from hcc.passes import (
    DumpAfter,
    Instrument,
    Option,
    Pass,
    PassManager,
    PassRegistry,
    PassResult,
    PrintAfterChange,
    Timings,
    VerifyEach,
    register_pass,
)

REGISTRY = PassRegistry()


@register_pass(
    "touch", summary="log a run in model.meta; report a change if told to", registry=REGISTRY
)
class TouchPass(Pass):
    """Records its name in ``model.meta['log']``."""

    change = Option(bool, True, "whether to report a change")

    def call(self, model: Model) -> PassResult:
        model.meta.setdefault("log", []).append(f"touch:{self.change}")
        return PassResult(model, self.change)


@register_pass("fail", summary="Raises a user error", registry=REGISTRY)
class FailPass(Pass):
    """Fails like a pass meeting a model it cannot handle."""

    def call(self, model: Model) -> PassResult:
        raise HccError("cannot handle this model")


def _passes(text: str) -> list[Pass]:
    return hcc.passes.build_pipeline(text, registry=REGISTRY)


@pytest.fixture
def model(graph_builder) -> Model:
    builder = graph_builder()
    x = builder.input("x")
    builder.output(builder.op("Relu", x))
    return builder.model()


def _fake_printer(model: Model) -> str:
    return f"model after {model.meta.get('log', [])}"


class Recorder(Instrument):
    def __init__(self, label: str, log: list[str]) -> None:
        self.label, self.log = label, log

    def before_pipeline(self, model):
        self.log.append(f"{self.label}.before_pipeline")

    def before_pass(self, pass_, model):
        self.log.append(f"{self.label}.before:{pass_.info().name}")

    def after_pass(self, pass_, result):
        self.log.append(f"{self.label}.after:{pass_.info().name}:{result.changed}")

    def after_pipeline(self, result):
        self.log.append(f"{self.label}.after_pipeline:{result.changed}")


def test_passes_run_in_order_and_changes_accumulate(model):
    result = PassManager(_passes("touch(change=false),touch,touch(change=false)")).run(model)
    assert result.model is model and result.changed
    assert model.meta["log"] == ["touch:False", "touch:True", "touch:False"]
    assert not PassManager(_passes("touch(change=false)")).run(model).changed
    assert not PassManager([]).run(model).changed


def test_hooks_run_before_in_order_and_after_in_reverse(model):
    log: list[str] = []
    PassManager(_passes("touch"), [Recorder("a", log), Recorder("b", log)]).run(model)
    assert log == [
        "a.before_pipeline",
        "b.before_pipeline",
        "a.before:touch",
        "b.before:touch",
        "b.after:touch:True",
        "a.after:touch:True",
        "b.after_pipeline:True",
        "a.after_pipeline:True",
    ]


def test_instruments_may_define_only_some_hooks(model):
    class OnlyAfter:
        seen: list[str] = []

        def after_pass(self, pass_, result):
            self.seen.append(pass_.info().name)

    only = OnlyAfter()
    PassManager(_passes("touch,touch"), [only]).run(model)
    assert only.seen == ["touch", "touch"]


def test_a_user_error_in_a_pass_names_the_pass(model):
    with pytest.raises(HccError) as caught:
        PassManager(_passes("touch,fail")).run(model)
    assert str(caught.value) == "pass 'fail': cannot handle this model"


def test_call_must_return_a_pass_result(model):
    class Broken(Pass):
        def call(self, model):
            return model

    with pytest.raises(TypeError, match="not a PassResult"):
        Broken().run(model)


def test_requires_and_ensures_wrap_call(model):
    calls: list[str] = []

    class Careful(Pass):
        def requires(self, model):
            calls.append("requires")

        def call(self, model):
            calls.append("call")
            return PassResult(model, False)

        def ensures(self, model):
            calls.append("ensures")

    Careful().run(model)
    assert calls == ["requires", "call", "ensures"]


# -- VerifyEach -----------------------------------------------------------------------------------


def test_verify_each_checks_the_input_and_every_pass(model):
    checked: list[tuple] = []

    def verify(m, *, require_scopes):
        checked.append((list(m.meta.get("log", [])), require_scopes))

    PassManager(_passes("touch,touch"), [VerifyEach(verify=verify, require_scopes=True)]).run(model)
    assert checked == [([], True), (["touch:True"], True), (["touch:True", "touch:True"], True)]


def test_verify_each_names_the_pass_that_broke_the_ir(model):
    def verify(m, *, require_scopes):
        if len(m.meta.get("log", [])) >= 2:
            raise VerificationError(["value 'y' is used but never defined", "second problem"])

    manager = PassManager(_passes("touch,touch(change=false),touch"), [VerifyEach(verify=verify)])
    with pytest.raises(VerificationError) as caught:
        manager.run(model)
    assert str(caught.value) == (
        "after pass 'touch': value 'y' is used but never defined (and 1 more)"
    )
    assert caught.value.problems == ["value 'y' is used but never defined", "second problem"]
    assert model.meta["log"] == ["touch:True", "touch:False"]


def test_verify_each_blames_the_input_when_it_arrives_broken(model):
    def verify(m, *, require_scopes):
        raise VerificationError(["bad input"])

    with pytest.raises(VerificationError, match="in the input model, before any pass: bad input"):
        PassManager(_passes("touch"), [VerifyEach(verify=verify)]).run(model)
    assert "log" not in model.meta


def test_verify_each_with_the_real_verifier(model, graph_builder):
    class DropFirstNode(Pass):
        """Breaks the IR on purpose: the removed node's output is still read."""

        name = "drop-first-node"

        def call(self, model):
            model.graph.remove(model.graph.nodes[0], safe=False)
            return PassResult(model, True)

    builder = graph_builder()
    x = builder.input("x")
    builder.output(builder.op("Relu", builder.op("Relu", x)))
    broken = builder.model()
    PassManager(_passes("touch"), [VerifyEach()]).run(broken)  # valid so far
    with pytest.raises(VerificationError, match="^after pass 'drop-first-node': "):
        PassManager([DropFirstNode()], [VerifyEach()]).run(broken)


# -- Timings --------------------------------------------------------------------------------------


def test_timings_record_every_run(model):
    timings = Timings()
    PassManager(_passes("touch,touch(change=false)"), [timings]).run(model)
    assert [(r.name, r.changed) for r in timings.records] == [("touch", True), ("touch", False)]
    assert all(r.seconds >= 0 for r in timings.records)
    assert timings.total == pytest.approx(sum(r.seconds for r in timings.records))
    lines = timings.format_table().splitlines()
    assert lines[0].split() == ["ms", "share", "changed", "pass"]
    assert lines[1].split()[2:] == ["yes", "touch"] and lines[2].split()[2:] == ["no", "touch"]
    assert lines[-1].split()[-1] == "total" and len(lines) == 4


def test_timings_table_when_nothing_ran():
    assert Timings().format_table().splitlines()[-1].split() == ["0.00", "0.0%", "total"]


# -- DumpAfter and PrintAfterChange ---------------------------------------------------------------


def test_dump_after_writes_every_run_of_the_named_pass_to_a_stream(model):
    stream = io.StringIO()
    dump = DumpAfter("touch", stream, format_model=_fake_printer)
    PassManager(_passes("touch,touch(change=false)"), [dump]).run(model)
    assert stream.getvalue() == (
        "# IR after touch (pass 1 of the pipeline)\n"
        "model after ['touch:True']\n"
        "# IR after touch (pass 2 of the pipeline)\n"
        "model after ['touch:True', 'touch:False']\n"
    )


def test_dump_after_to_a_directory_names_files_by_position(model, tmp_path):
    class Other(Pass):
        name = "other"

        def call(self, model):
            return PassResult(model, False)

    directory = tmp_path / "dumps" / "nested"
    dump = DumpAfter("touch", directory, format_model=_fake_printer)
    PassManager([*_passes("touch"), Other(), *_passes("touch")], [dump]).run(model)
    assert sorted(p.name for p in directory.iterdir()) == ["01-touch.txt", "03-touch.txt"]
    assert dump.written == [directory / "01-touch.txt", directory / "03-touch.txt"]
    assert (directory / "03-touch.txt").read_text() == "model after ['touch:True', 'touch:True']"


def test_print_after_change_skips_unchanged_passes(model):
    stream = io.StringIO()
    printer = PrintAfterChange(stream, format_model=_fake_printer)
    PassManager(_passes("touch(change=false),touch"), [printer]).run(model)
    assert stream.getvalue() == (
        "# IR after touch (changed)\nmodel after ['touch:False', 'touch:True']\n"
    )


def test_dump_with_the_real_printer(model):
    stream = io.StringIO()
    PassManager(_passes("touch"), [DumpAfter("touch", stream), PrintAfterChange(stream)]).run(model)
    text = stream.getvalue()
    assert text.count("# IR after touch") == 2 and "Relu" in text


# -- hcc.passes.run -------------------------------------------------------------------------------


def test_run_on_an_ir_model_returns_it_changed_in_place(graph_builder):
    builder = graph_builder()
    x = builder.input("x")
    builder.op("Relu", x)  # dead
    builder.output(builder.op("Neg", x))
    model = builder.model()
    assert hcc.passes.run(model, "remove-dead-code") is model
    assert [n.op_type for n in model.graph.nodes] == ["Neg"]


def test_run_accepts_instruments_and_pass_objects(model):
    timings = Timings()
    hcc.passes.run(model, _passes("touch"), instruments=[timings])
    assert [r.name for r in timings.records] == ["touch"]


def test_run_builds_the_pipeline_before_touching_the_model():
    with pytest.raises(HccError, match="unknown pass 'nope'"):
        hcc.passes.run(object(), "nope")


def test_run_refuses_other_objects():
    with pytest.raises(TypeError, match="needs an hcc.ir.Model or onnx.ModelProto, not str"):
        hcc.passes.run("model.onnx", "")


def test_run_on_a_model_proto_returns_a_model_proto():
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["unused"], name="dead"),
            helper.make_node("Neg", ["x"], ["y"], name="neg"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    result = hcc.passes.run(proto, "remove-dead-code", verify_each=True)
    assert isinstance(result, onnx.ModelProto)
    assert [n.name for n in result.graph.node] == ["neg"]
    assert [n.name for n in proto.graph.node] == ["dead", "neg"]  # the input is left alone
    onnx.checker.check_model(result)
