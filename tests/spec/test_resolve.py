"""The resolver: includes, parameters and -D, sections, passes, and paths.

Resolution is what `hcc check` runs and what `hcc build` runs first; these tests never export
a model, so they stay fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from hcc.diagnostics import SpecError
from hcc.frontend.sources import InputSpec
from hcc.passes.pipeline import PassSpec
from hcc.spec.resolve import load_spec, load_spec_text

SPECS = Path(__file__).resolve().parents[2] / "specs"
BUNDLED = sorted(SPECS.glob("*.hx"))


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# -- bundled specs --------------------------------------------------------------------------


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_every_bundled_spec_resolves(path):
    spec = load_spec(str(path))
    assert spec.model_name
    assert spec.files[0] == str(path)
    assert spec.output.directory and spec.output.name


def test_bundled_specs_exist():
    assert {p.name for p in BUNDLED} >= {"bert-tiny.hx", "gpt2-layers.hx", "llama-layers.hx"}


# -- sections and defaults ------------------------------------------------------------------


def test_a_minimal_spec_gets_every_default():
    spec = load_spec_text('model bert from config "bert"\n')
    assert spec.model_name == "bert"
    assert (spec.source.kind, spec.source.reference, spec.source.overrides) == (
        "config",
        "bert",
        {},
    )
    assert (spec.source.task, spec.source.seed, spec.source.inputs) == ("base", 0, None)
    assert (spec.export.exporter, spec.export.opset, spec.export.pipeline) == ("dynamo", None, None)
    assert spec.tagging is True
    assert spec.pipeline == []
    assert (
        spec.output.directory,
        spec.output.name,
        spec.output.external_data_threshold,
        spec.output.reports,
    ) == (os.path.join("build", "bert"), "bert", 1024, [])


def test_every_section_option_reaches_the_build_settings():
    spec = load_spec_text("""
        model gpt2 from config "gpt2" {
          task = "causal-lm"
          seed = 7
          config { n_layer = 2  n_embd = 64 }
        }
        inputs { input_ids: int64[batch, seq] = [2, 8] }
        export { exporter = torchscript  opset = 17  tagging = false }
        output "out/gpt2" { name = tiny  external_data_threshold = 0  reports = [ir, hierarchy] }
    """)
    assert spec.source.overrides == {"n_layer": 2, "n_embd": 64}
    assert (spec.source.task, spec.source.seed) == ("causal-lm", 7)
    assert spec.source.inputs == [InputSpec("input_ids", "int64", ["batch", "seq"], [2, 8])]
    assert (spec.export.exporter, spec.export.opset) == ("torchscript", 17)
    # tagging = false: the front end runs no tagging pipeline of its own.
    assert (spec.tagging, spec.export.pipeline) == (False, "")
    assert (
        spec.output.directory,
        spec.output.name,
        spec.output.external_data_threshold,
        spec.output.reports,
    ) == ("out/gpt2", "tiny", 0, ["ir", "hierarchy"])


@pytest.mark.parametrize("distinct", [True, False])
def test_distinct_weights_reaches_the_model_built_from_the_config(distinct):
    import torch

    from hcc.frontend.load import load_module

    spec = load_spec_text(f"""
        model bert from config "bert" {{
          distinct_weights = {str(distinct).lower()}
          config {{ num_hidden_layers = 1  hidden_size = 8  num_attention_heads = 2
                   intermediate_size = 16  vocab_size = 20 }}
        }}
    """)
    norm = load_module(spec.source).module.embeddings.LayerNorm.weight
    # A fresh LayerNorm starts at ones; distinct weights perturb it.
    assert torch.equal(norm, torch.ones(8)) is not distinct


def test_distinct_weights_is_refused_for_a_model_that_is_not_built_from_a_config():
    with pytest.raises(SpecError, match="distinct_weights applies to a model built from a config"):
        load_spec_text('model m from pretrained "org/name" { distinct_weights = false }')


def test_the_kv_cache_names_block_reaches_the_recipe_with_parameters():
    spec = load_spec_text("""
        param head_name: str = "next_token"
        model llama from config "llama" { task = "causal-lm" }
        export {
          recipe = kv-cache
          names { preset = seed001  token = $head_name  past_k = "cache_k_{i}" }
        }
    """)
    assert spec.recipe["names_preset"] == "seed001"
    assert spec.recipe["names"] == {"token": "next_token", "past_k": "cache_k_{i}"}


def test_without_a_names_block_the_pieces_keep_hccs_names():
    spec = load_spec_text('model llama from config "llama"\nexport { recipe = kv-cache }\n')
    assert (spec.recipe["names_preset"], spec.recipe["names"]) == ("hcc", {})


def test_inputs_may_give_example_text_instead_of_declarations():
    spec = load_spec_text('model bert from config "bert"\ninputs { text = "Hello there" }\n')
    assert (spec.source.inputs, spec.source.input_text) == (None, "Hello there")


def test_static_and_named_dimensions_and_sizes_are_optional():
    spec = load_spec_text('model m from config "c"\ninputs { pixel: float32[batch, 3, 32, 32] }')
    assert spec.source.inputs == [InputSpec("pixel", "float32", ["batch", 3, 32, 32], None)]


def test_pipeline_keeps_order_repeats_and_converted_options():
    spec = load_spec_text("""
        model m from config "c"
        pipeline {
          remove-dead-code
          strip-tags(keys = [a, "b"], hierarchy = false)
          remove-dead-code(aggressive = true)
        }
    """)
    assert spec.pipeline == [
        PassSpec("remove-dead-code", {}),
        PassSpec("strip-tags", {"keys": ["a", "b"], "hierarchy": False}),
        PassSpec("remove-dead-code", {"aggressive": True}),
    ]


def test_pass_specs_remember_where_they_were_written():
    spec = load_spec_text(
        'model m from config "c"\npipeline {\n  strip-tags(keys = [a])\n}\n', source="p.hx"
    )
    (call,) = spec.pipeline
    assert (call.location.source, call.location.line, call.location.column) == ("p.hx", 3, 3)
    keys = call.option_locations["keys"]
    assert (keys.line, keys.column) == (3, 21)


# -- parameters, -D and interpolation -------------------------------------------------------

PARAMS = """
param layers: int = 2
param width: float = 0.5
param label: str = "base"
param fast: bool = false
model m from config "c" {
  config { n = $layers  w = $width  fast = $fast  all = [$layers, $label] }
}
output "build/${label}-${layers}-${fast}" { name = "m_${width}" }
"""


def test_parameters_take_their_defaults():
    spec = load_spec_text(PARAMS)
    assert spec.params == {"layers": 2, "width": 0.5, "label": "base", "fast": False}
    assert spec.source.overrides == {"n": 2, "w": 0.5, "fast": False, "all": [2, "base"]}
    # Interpolated booleans read as the spec writes them.
    assert spec.output.directory == "build/base-2-false"
    assert spec.output.name == "m_0.5"


@pytest.mark.parametrize(
    "defines, expected",
    [
        ({"layers": "4"}, {"layers": 4}),
        ({"layers": "-1"}, {"layers": -1}),
        ({"width": "3"}, {"width": 3.0}),
        ({"width": "1e-2"}, {"width": 0.01}),
        ({"label": "42"}, {"label": "42"}),  # a str parameter takes the text as it is
        ({"fast": "true"}, {"fast": True}),
        ({"fast": "YES"}, {"fast": True}),
        ({"fast": "1"}, {"fast": True}),
        ({"fast": "no"}, {"fast": False}),
    ],
)
def test_defines_override_defaults_converted_by_the_declared_type(defines, expected):
    spec = load_spec_text(PARAMS, defines)
    for name, value in expected.items():
        assert spec.params[name] == value and type(spec.params[name]) is type(value)


def test_a_define_reaches_every_use_of_the_parameter():
    spec = load_spec_text(PARAMS, {"layers": "6", "label": "big"})
    assert spec.source.overrides["n"] == 6
    assert spec.source.overrides["all"] == [6, "big"]
    assert spec.output.directory == "build/big-6-false"


@pytest.mark.parametrize("value", ["4.0", "four", "1_000", ""])
def test_an_int_define_must_be_written_as_an_integer(value):
    with pytest.raises(SpecError):
        load_spec_text(PARAMS, {"layers": value})


def test_a_parameter_name_with_a_dash_works_as_ref_and_in_strings():
    spec = load_spec_text(
        'param run-id: str = "a1"\nmodel m from config $run-id\noutput "build/${run-id}"\n'
    )
    assert (spec.source.reference, spec.output.directory) == ("a1", "build/a1")


def test_a_parameter_without_default_takes_its_value_from_a_define():
    text = "param source: str\nmodel m from config $source\n"
    assert load_spec_text(text, {"source": "gpt2"}).source.reference == "gpt2"


def test_parameter_values_are_typed_where_they_are_used():
    # $layers is an int: fine for a config override, wrong for the output name (a str).
    with pytest.raises(SpecError) as caught:
        load_spec_text(
            'param layers: int = 2\nmodel m from config "c"\noutput "b" { name = $layers }'
        )
    assert caught.value.diagnostics[0].message == ("output option 'name' expects str, got int 2")


def test_a_dimension_and_sizes_may_come_from_parameters():
    spec = load_spec_text(
        'param seq: int = 8\nmodel m from config "c"\ninputs { x: int64[2, $seq] = [2, $seq] }'
    )
    assert spec.source.inputs == [InputSpec("x", "int64", [2, 8], [2, 8])]


def test_each_use_of_an_undefined_parameter_is_reported_once_without_echoes():
    text = (
        "model m from config $src\ninputs { x: int64[$n] = [$n] }\n"
        'pipeline { strip-tags(keys = [$k]) }\noutput $out { name = "${nm}" }\n'
    )
    with pytest.raises(SpecError) as caught:
        load_spec_text(text)
    messages = [d.message.split(";")[0] for d in caught.value.diagnostics]
    assert messages == [
        "undefined parameter $src",
        "undefined parameter $n",
        "undefined parameter $n",
        "undefined parameter $k",
        "undefined parameter $out",
        "undefined parameter ${nm}",
    ]


def test_a_parameter_without_a_value_is_not_also_reported_where_used():
    with pytest.raises(SpecError) as caught:
        load_spec_text('param n: int\nmodel m from config "c" { seed = $n }\n')
    assert len(caught.value.diagnostics) == 1


def test_include_paths_are_never_interpolated(tmp_path):
    # An include path is always literal, so a -D can never change which files a spec reads.
    _write(tmp_path, {"main.hx": 'param f: str = "x"\ninclude "${f}.hx"\nmodel m from config c\n'})
    with pytest.raises(SpecError) as caught:
        load_spec(str(tmp_path / "main.hx"), {"f": "other"})
    assert "'${f}.hx' not found" in caught.value.diagnostics[0].message


# -- includes -------------------------------------------------------------------------------


def test_includes_are_relative_to_the_including_file(tmp_path):
    _write(
        tmp_path,
        {
            "main.hx": 'include "common/base.hx"\nmodel m from config "c"\n',
            "common/base.hx": 'include "passes/cleanup.hx"\nparam layers: int = 3\n',
            "common/passes/cleanup.hx": "pipeline { remove-dead-code }\n",
        },
    )
    spec = load_spec(str(tmp_path / "main.hx"))
    assert spec.params == {"layers": 3}
    assert [p.name for p in spec.pipeline] == ["remove-dead-code"]
    assert [os.path.relpath(f, tmp_path) for f in spec.files] == [
        "main.hx",
        os.path.join("common", "base.hx"),
        os.path.join("common", "passes", "cleanup.hx"),
    ]


def test_later_sections_replace_included_ones(tmp_path):
    _write(
        tmp_path,
        {
            "base.hx": (
                'model base from config "bert"\npipeline { remove-dead-code }\n'
                'output "build/base"\n'
            ),
            "main.hx": 'include "base.hx"\npipeline { topological-sort }\n',
        },
    )
    spec = load_spec(str(tmp_path / "main.hx"))
    assert spec.model_name == "base"  # kept: main.hx has no model section
    assert [p.name for p in spec.pipeline] == ["topological-sort"]  # replaced, not merged
    assert spec.output.directory == "build/base"


def test_the_last_section_read_wins_so_an_include_after_a_section_replaces_it(tmp_path):
    _write(
        tmp_path,
        {
            "base.hx": 'output "build/from-base"\n',
            "main.hx": 'model m from config "c"\noutput "build/mine"\ninclude "base.hx"\n',
        },
    )
    assert load_spec(str(tmp_path / "main.hx")).output.directory == "build/from-base"


def test_included_parameters_can_be_set_with_defines(tmp_path):
    _write(
        tmp_path,
        {
            "base.hx": "param layers: int = 2\n",
            "main.hx": 'include "base.hx"\nmodel m from config "c" { config { n = $layers } }\n',
        },
    )
    spec = load_spec(str(tmp_path / "main.hx"), {"layers": "5"})
    assert spec.source.overrides == {"n": 5}


def test_a_file_included_twice_is_read_once(tmp_path):
    # Two includes sharing a base must not declare its parameters twice.
    _write(
        tmp_path,
        {
            "base.hx": "param layers: int = 2\n",
            "a.hx": 'include "base.hx"\n',
            "b.hx": 'include "base.hx"\n',
            "main.hx": 'include "a.hx"\ninclude "b.hx"\nmodel m from config "c"\n',
        },
    )
    spec = load_spec(str(tmp_path / "main.hx"))
    assert spec.params == {"layers": 2}
    assert sorted(os.path.basename(f) for f in spec.files) == ["a.hx", "b.hx", "base.hx", "main.hx"]


def test_a_duplicate_section_within_one_file_is_an_error_even_via_includes(tmp_path):
    _write(
        tmp_path,
        {
            "base.hx": 'output "a"\noutput "b"\n',
            "main.hx": 'include "base.hx"\nmodel m from config "c"\n',
        },
    )
    with pytest.raises(SpecError) as caught:
        load_spec(str(tmp_path / "main.hx"))
    (error,) = caught.value.diagnostics
    assert error.message == "duplicate output section (first at 1:1)"
    assert error.location.source.endswith("base.hx")


def test_includes_may_go_up_but_not_out_of_the_top_specs_folder(tmp_path):
    _write(
        tmp_path,
        {
            "shared.hx": "pipeline { remove-dead-code }\n",
            "models/base.hx": 'include "../shared.hx"\n',
            "main.hx": 'include "models/base.hx"\nmodel m from config "c"\n',
        },
    )
    assert [p.name for p in load_spec(str(tmp_path / "main.hx")).pipeline] == ["remove-dead-code"]


def test_spec_text_includes_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    _write(tmp_path, {"base.hx": "param layers: int = 4\n"})
    monkeypatch.chdir(tmp_path)
    spec = load_spec_text('include "base.hx"\nmodel m from config "c"\n')
    assert spec.params == {"layers": 4}


@pytest.mark.parametrize(
    "text",
    [
        'include "\udd00ase.hx"\nmodel m from config "c"\n',
        'model m from onnx "\udd00.onnx"\n',
        'model m from config "c"\noutput "out\udd00" {}\n',
    ],
)
def test_a_lone_surrogate_in_spec_text_is_a_spec_error_with_its_place(tmp_path, monkeypatch, text):
    # Only a str from Python can hold one (files are read as UTF-8); it would end as an
    # exception from os.path when used as a file name.
    monkeypatch.chdir(tmp_path)
    line = 1 + text[: text.index("\udd00")].count("\n")
    with pytest.raises(
        SpecError, match=rf"<spec>:{line}:\d+: the spec holds a lone surrogate"
    ) as e:
        load_spec_text(text)
    str(e.value).encode("utf-8")  # the message itself can be printed


# -- paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["onnx", "directory"])
def test_file_sources_are_relative_to_the_spec_that_names_them(tmp_path, kind):
    _write(
        tmp_path,
        {
            "specs/main.hx": f'model m from {kind} "models/m"\n',
        },
    )
    spec = load_spec(str(tmp_path / "specs" / "main.hx"))
    assert spec.source.reference == str(tmp_path / "specs" / "models" / "m")


def test_a_source_in_an_included_file_is_relative_to_that_file(tmp_path):
    _write(
        tmp_path,
        {
            "main.hx": 'include "sub/base.hx"\n',
            "sub/base.hx": 'model m from onnx "m.onnx"\n',
        },
    )
    spec = load_spec(str(tmp_path / "main.hx"))
    assert spec.source.reference == str(tmp_path / "sub" / "m.onnx")


def test_config_and_factory_sources_are_names_not_paths(tmp_path):
    _write(
        tmp_path,
        {
            "a.hx": 'model m from config "gpt2"\n',
            "b.hx": 'model m from factory "pkg.models:make"\n',
        },
    )
    assert load_spec(str(tmp_path / "a.hx")).source.reference == "gpt2"
    assert load_spec(str(tmp_path / "b.hx")).source.reference == "pkg.models:make"


def test_absolute_source_paths_are_kept(tmp_path):
    _write(tmp_path, {"a.hx": f'model m from onnx "{tmp_path}/x.onnx"\n'})
    assert load_spec(str(tmp_path / "a.hx")).source.reference == f"{tmp_path}/x.onnx"


def test_the_output_folder_is_relative_to_the_working_directory(tmp_path):
    # Not to the spec: `hcc build specs/x.hx` writes build/... where it is run (and -o wins).
    _write(tmp_path, {"specs/x.hx": 'model m from config "c"\noutput "build/x"\n'})
    assert load_spec(str(tmp_path / "specs" / "x.hx")).output.directory == "build/x"


# -- what the language may read -------------------------------------------------------------

_opened: list[str] | None = None


def _audit(event, args):
    if event == "open" and _opened is not None and isinstance(args[0], str):
        _opened.append(args[0])


sys.addaudithook(_audit)  # cannot be removed; it records nothing unless _opened is a list


def test_resolving_reads_only_the_spec_and_its_includes(tmp_path):
    global _opened
    _write(
        tmp_path,
        {
            "main.hx": 'include "base.hx"\nmodel m from onnx "models/m.onnx"\n',
            "base.hx": 'model d from directory "weights"\noutput "build/x"\n',
        },
    )
    load_spec_text('model m from config "c"')  # load the grammar before watching
    _opened = []
    try:
        load_spec(str(tmp_path / "main.hx"))
    finally:
        opened, _opened = _opened, None
    assert sorted(os.path.basename(p) for p in opened) == ["base.hx", "main.hx"]


def test_weights_read_in_place_reach_the_export_and_the_writer(tmp_path):
    spec = load_spec_text(f"""
        model llama from directory "{tmp_path}" {{ task = "causal-lm" }}
        output "out" {{ weights = link }}
    """)
    assert (spec.export.weights, spec.output.weights) == ("link", "link")
    plain = load_spec_text(f'model llama from directory "{tmp_path}" {{}}')
    assert (plain.export.weights, plain.output.weights) == (None, "load")


@pytest.mark.parametrize(
    "model, export, need",
    [
        ('model bert from config "bert" {}', "", "not a config source"),
        ("model m from directory DIR {}", "export { exporter = torchscript }", "dynamo"),
    ],
)
def test_weights_read_in_place_need_a_checkpoint_and_the_dynamo_exporter(
    tmp_path, model, export, need
):
    text = f"""
        {model}
        {export}
        output "out" {{
          weights = copy
        }}
    """.replace("DIR", f'"{tmp_path}"')
    with pytest.raises(SpecError, match=f"weights read in place need .*{need}") as caught:
        load_spec_text(text)
    assert "weights = copy" in str(caught.value)  # the message points at the option
