"""The table of bad specs: each mistake pinned to its exact first message and line:col.

A message is part of the interface (people read it, the docs quote it), so a change to one
should be a decision, made here, not an accident. Each case also checks that the mistake is
reported once: an error that drags echoes after it ("undefined parameter", then "the output
folder must be a string" for the same value) hides the real problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hcc.diagnostics import SpecError
from hcc.spec.resolve import load_spec, load_spec_text

MODEL = 'model bert from config "bert"\n'
KV_NAMES = MODEL + "export {\n  recipe = kv-cache\n  names {\n"


@dataclass
class Bad:
    id: str
    text: str  # main.hx
    message: str  # "{root}" stands for the folder of main.hx
    line: int | None
    column: int | None
    defines: dict[str, str] | None = None
    files: dict[str, str] = field(default_factory=dict)  # other files beside main.hx
    where: str = "main.hx"  # the file the location is in
    count: int = 1  # how many diagnostics in all


BAD_SPECS = [
    # -- passes: names and options checked against the registry, as `hcc opt -p` does ---------
    Bad(
        "unknown pass, with did-you-mean",
        MODEL + "pipeline {\n  remove-dead-cod\n}\n",
        "unknown pass 'remove-dead-cod'; did you mean 'remove-dead-code'?",
        3,
        3,
    ),
    Bad(
        "misspelt pass option",
        MODEL + "pipeline {\n  remove-dead-code(agressive = true)\n}\n",
        "pass 'remove-dead-code' has no option 'agressive'; did you mean 'aggressive'?"
        " (options: aggressive)",
        3,
        32,
    ),
    Bad(
        "wrong option type",
        MODEL + "pipeline {\n  remove-dead-code(aggressive = 3)\n}\n",
        "option 'aggressive' of pass 'remove-dead-code' expects bool, got int 3",
        3,
        33,
    ),
    Bad(
        "pass option given twice",
        MODEL + "pipeline {\n  strip-tags(hierarchy = true, hierarchy = false)\n}\n",
        "option 'hierarchy' of pass 'strip-tags' is given twice (first at 3:14)",
        3,
        32,
    ),
    Bad(
        "value out of range",
        MODEL + "export {\n  opset = 99\n}\n",
        "export option 'opset' expects int in [0, 28], got int 99",
        3,
        11,
    ),
    Bad(
        "negative threshold",
        MODEL + 'output "build/x" {\n  external_data_threshold = -1\n}\n',
        "output option 'external_data_threshold' expects int >= 0, got int -1",
        3,
        29,
    ),
    Bad(
        "negative tolerance",
        MODEL + 'output "build/x" {\n  tolerance = -1e-6\n}\n',
        "output option 'tolerance' expects float >= 0.0, got float -1e-06",
        3,
        15,
    ),
    Bad(
        "infinite tolerance (a literal too large for a float)",
        MODEL + 'output "build/x" {\n  tolerance = 1e999\n}\n',
        "output option 'tolerance' expects float >= 0.0, got float inf (a finite number is needed)",
        3,
        15,
    ),
    Bad(
        "nan given to a float parameter",
        "param tol: float = 0.0\n" + MODEL + 'output "build/x" {\n  tolerance = $tol\n}\n',
        "-D tol=nan: parameter 'tol' is declared float, and 'nan' is not a float (a finite number)",
        1,
        12,
        defines={"tol": "nan"},
    ),
    Bad(
        "inf given to a float parameter",
        "param tol: float = 0.0\n" + MODEL + 'output "build/x" {\n  tolerance = $tol\n}\n',
        "-D tol=inf: parameter 'tol' is declared float, and 'inf' is not a float (a finite number)",
        1,
        12,
        defines={"tol": "inf"},
    ),
    Bad(
        "value not among the choices",
        'model bert from config "bert" {\n  task = "causal"\n}\n',
        "model option 'task' expects one of 'base', 'causal-lm', 'masked-lm', 'seq2seq-lm',"
        " 'sequence-classification', 'token-classification', 'question-answering',"
        " 'image-classification', got str 'causal'; did you mean 'causal-lm'?",
        2,
        10,
    ),
    Bad(
        "unknown kv-cache layout",
        MODEL + "export {\n  recipe = kv-cache\n  cache_layout = bsdh\n}\n",
        "export option 'cache_layout' expects one of 'bhsd', 'bshd', got str 'bsdh'; did you "
        "mean 'bshd'?",
        4,
        18,
    ),
    Bad(
        "kv-cache pieces with int4 weights for target onnx (opset 21 only)",
        MODEL + "export {\n  recipe = kv-cache\n}\n"
        "pipeline {\n  quantize-weights(bits = 4, target = onnx)\n}\n",
        "quantize-weights(bits = 4, target = onnx) needs opset 21 (a blocked DequantizeLinear "
        "has no older form), and the kv-cache recipe writes its pieces at opset 15 (at most "
        "20); use target = onnxruntime (MatMulNBits) or bits = 8",
        6,
        39,
    ),
    Bad(
        "kv-cache quantize options with an undefined parameter: that error alone",
        MODEL + "export {\n  recipe = kv-cache\n}\n"
        "pipeline {\n  quantize-weights(bits = 3, target = $nope)\n}\n",
        "undefined parameter $nope; declare it with 'param nope: TYPE = DEFAULT'",
        6,
        39,
    ),
    # -- the kv-cache pieces' names: at the key or the value concerned -------------------------
    Bad(
        "unknown names key",
        KV_NAMES + '    hiden = "input_states"\n  }\n}\n',
        "unknown names key 'hiden'; did you mean 'hidden'? (keys: preset, input_ids, "
        "attention_mask, position_ids, embedded, hidden, hidden_out, past_k, past_v, present_k, "
        "present_v, new_k, new_v, head_in, token, logits)",
        5,
        5,
    ),
    Bad(
        "names key given twice",
        KV_NAMES + '    hidden = "a"\n    hidden = "b"\n  }\n}\n',
        "names.hidden is given twice (first at 5:5)",
        6,
        5,
    ),
    Bad(
        "two roles of one piece with one name",
        KV_NAMES + '    past_k = "k"\n    past_v = "k"\n  }\n}\n',
        "names.past_v and names.past_k are both 'k', but one piece has both tensors",
        6,
        14,
    ),
    Bad(
        "empty name",
        KV_NAMES + '    token = ""\n  }\n}\n',
        "names.token must be a non-empty string, got ''",
        5,
        13,
    ),
    Bad(
        "odd name",
        KV_NAMES + '    token = "next token"\n  }\n}\n',
        "names.token = 'next token' is not a name a runtime can take: a letter or '_' first, "
        "then letters, digits, '_', '.', ':', '/' or '-' ({i}, {i+1} and {layers} stand for "
        "numbers)",
        5,
        13,
    ),
    Bad(
        "unknown names preset",
        KV_NAMES + "    preset = seed01\n  }\n}\n",
        "unknown names preset 'seed01'; did you mean 'seed001'? (presets: hcc, seed001)",
        5,
        14,
    ),
    Bad(
        "names without the kv-cache recipe",
        MODEL + 'export {\n  names {\n    token = "t"\n  }\n}\n',
        "names are the kv-cache recipe's; set recipe = kv-cache",
        3,
        3,
    ),
    Bad(
        "names block given twice",
        MODEL + "export {\n  recipe = kv-cache\n  names {}\n  names {}\n}\n",
        "names is given twice in export (first at 4:3)",
        5,
        3,
    ),
    Bad(
        "unknown export block",
        MODEL + "export {\n  nmes {\n  }\n}\n",
        "unknown export block 'nmes'; did you mean 'names'? (blocks: names)",
        3,
        3,
    ),
    Bad(
        "misspelt report",
        MODEL + 'output "build/x" {\n  reports = [hierachy]\n}\n',
        "output option 'reports' expects list of 'hierarchy', 'ir', 'dag', 'op-metadata', "
        "'graphml', 'report', 'html', got list ['hierachy'];"
        " did you mean 'hierarchy'?",
        3,
        13,
    ),
    # -- sections --------------------------------------------------------------------------------
    Bad(
        "missing model section",
        "pipeline {\n  remove-dead-code\n}\n",
        'missing model section: a spec names its model, e.g. model bert from config "bert"',
        1,
        1,
    ),
    Bad(
        "misspelt section, with did-you-mean",
        MODEL + 'outptu "build/x"\n',
        "unknown section 'outptu'; did you mean 'output'?",
        2,
        1,
    ),
    Bad(
        "duplicate output section",
        MODEL + 'output "build/a"\noutput "build/b"\n',
        "duplicate output section (first at 2:1)",
        3,
        1,
    ),
    Bad(
        "duplicate key in a section",
        MODEL + 'output "build/x" {\n  name = "a"\n  name = "b"\n}\n',
        "'name' is set twice in output (first at 3:3)",
        4,
        3,
    ),
    Bad(
        "duplicate key in a config block",
        'model bert from config "bert" {\n  config {\n    hidden_size = 64\n'
        "    hidden_size = 32\n  }\n}\n",
        "'hidden_size' is set twice in config (first at 3:5)",
        4,
        5,
    ),
    Bad(
        "unknown section option",
        MODEL + 'output "build/x" {\n  nmae = "x"\n}\n',
        "unknown output option 'nmae'; did you mean 'name'?"
        " (options: name, external_data_threshold, reports, validate, tolerance, torch_tolerance,"
        " weights)",
        3,
        3,
    ),
    Bad(
        "unknown model source kind",
        'model bert from confg "bert"\n',
        "unknown model source kind 'confg'; did you mean 'config'?"
        " (kinds: config, pretrained, directory, factory, onnx)",
        1,
        17,
    ),
    Bad(
        "model source that is not a string",
        "model bert from config 3\n",
        "the model source must be a non-empty string (a config name), not the int 3",
        1,
        24,
    ),
    Bad(
        "config block on an onnx source",
        'model m from onnx "m.onnx" {\n  config {\n    hidden_size = 64\n  }\n}\n',
        "a config block overrides a config source's settings; an onnx source has none",
        3,
        5,
    ),
    Bad(
        "output name with a folder in it",
        MODEL + 'output "build/x" {\n  name = "sub/model"\n}\n',
        "output name 'sub/model' must be a plain file name (no folders, not starting with '.')",
        3,
        10,
    ),
    # -- inputs ----------------------------------------------------------------------------------
    Bad(
        "unknown dtype",
        MODEL + "inputs {\n  input_ids: int46[batch, seq]\n}\n",
        "unknown dtype 'int46'; did you mean 'int64'? (dtypes: float32, float, float16,"
        " bfloat16, float64, int64, int32, int8, uint8, bool)",
        3,
        14,
    ),
    Bad(
        "negative dimension",
        MODEL + "inputs {\n  input_ids: int64[batch, -1]\n}\n",
        "bad dimension -1: a dimension is a size (an integer >= 0) or a name like batch",
        3,
        27,
    ),
    Bad(
        "dimension given as a string",
        MODEL + 'inputs {\n  input_ids: int64[batch, "seq"]\n}\n',
        'bad dimension "seq": a dimension is a size (an integer >= 0) or a name like batch',
        3,
        27,
    ),
    Bad(
        "example sizes count mismatch",
        MODEL + "inputs {\n  input_ids: int64[batch, seq] = [2]\n}\n",
        "input 'input_ids' has 2 dimensions but 1 example size",
        3,
        34,
    ),
    Bad(
        "example size against a static dimension",
        MODEL + "inputs {\n  pixel: float32[batch, 3] = [2, 4]\n}\n",
        "example size 4 differs from the static dimension 3",
        3,
        30,
    ),
    Bad(
        "example sizes that are not a list",
        MODEL + "inputs {\n  input_ids: int64[batch, seq] = 16\n}\n",
        "example sizes are a list of positive integers, one per dimension, e.g. [2, 16], not 16",
        3,
        34,
    ),
    Bad(
        "example text and declared inputs together",
        MODEL + 'inputs {\n  text = "hello"\n  input_ids: int64[batch, seq]\n}\n',
        "give example text or declared inputs, not both",
        3,
        3,
    ),
    # -- syntax ----------------------------------------------------------------------------------
    Bad(
        "unterminated string",
        MODEL + 'output "build/x\n',
        "unterminated string: a string ends with '\"' on the line it starts on",
        2,
        8,
    ),
    Bad(
        "unexpected token",
        MODEL + "pipeline {\n  remove-dead-code(aggressive true)\n}\n",
        "unexpected 'true'; expected '='",
        3,
        31,
    ),
    Bad(
        "missing value",
        'model bert from config "bert" {\n  seed =\n}\n',
        "unexpected '}'; expected a value",
        3,
        1,
    ),
    Bad(
        "unexpected end of file points at the open brace",
        MODEL + "pipeline {\n  remove-dead-code\n",
        "unexpected end of file: this '{' is never closed",
        2,
        10,
    ),
    Bad(
        "unexpected end of file after a keyword",
        "model bert from",
        "unexpected end of file; expected a name",
        1,
        16,
    ),
    Bad(
        "block left open before the next section",
        'model bert from config "bert" {\n  seed = 1\n\npipeline {\n  remove-dead-code\n}\n',
        "unexpected 'pipeline'; expected 'config', '}' or a name (is a '}' missing before it?)",
        4,
        1,
    ),
    Bad(
        "unexpected character",
        MODEL + "pipeline {\n  remove-dead-code;\n}\n",
        "unexpected character ';'",
        3,
        19,
    ),
    Bad(
        "dollar without a name",
        'model bert from config "bert" {\n  seed = $ 3\n}\n',
        "'$' must be followed by a parameter name, as in $layers",
        2,
        10,
    ),
    Bad(
        "lists nested too deeply",
        'model bert from config "bert" {\n  config {\n    a = [[[[[[[[[1]]]]]]]]]\n  }\n}\n',
        "lists may nest at most 8 deep",
        3,
        17,
    ),
    # -- parameters ------------------------------------------------------------------------------
    Bad(
        "undefined $parameter",
        MODEL + "inputs {\n  input_ids: int64[batch, $seq]\n}\n",
        "undefined parameter $seq; declare it with 'param seq: TYPE = DEFAULT'",
        3,
        27,
    ),
    Bad(
        "undefined parameter in a string",
        MODEL + 'output "build/${variant}-model"\n',
        "undefined parameter ${variant}; declare it with 'param variant: TYPE = DEFAULT'",
        2,
        15,
    ),
    Bad(
        "misspelt parameter, with did-you-mean",
        "param layers: int = 2\n" + 'model bert from config "bert" {\n  config {\n'
        "    num_hidden_layers = $layer\n  }\n}\n",
        "undefined parameter $layer; did you mean 'layers'?",
        4,
        25,
    ),
    Bad(
        "-D of an unknown parameter",
        "param layers: int = 2\n" + MODEL,
        "-D layer=4: the spec has no parameter 'layer'; did you mean 'layers'?"
        " (parameters: layers)",
        None,
        None,
        defines={"layer": "4"},
    ),
    Bad(
        "-D when the spec declares no parameters",
        MODEL,
        "-D layers=4: the spec has no parameter 'layers' (it declares none)",
        None,
        None,
        defines={"layers": "4"},
    ),
    Bad(
        "-D with the wrong type",
        "param layers: int = 2\n" + MODEL,
        "-D layers=two: parameter 'layers' is declared int, and 'two' is not an int",
        1,
        15,
        defines={"layers": "two"},
    ),
    Bad(
        "-D of a bool parameter",
        "param fast: bool = false\n" + MODEL,
        "-D fast=maybe: parameter 'fast' is declared bool, and 'maybe' is not a bool"
        " (true/false, yes/no or 1/0)",
        1,
        13,
        defines={"fast": "maybe"},
    ),
    Bad(
        "parameter without default and no -D",
        "param layers: int\n" + MODEL,
        "parameter 'layers' has no default value; give one with -D layers=...",
        1,
        7,
    ),
    Bad(
        "default of the wrong type",
        'param layers: int = "two"\n' + MODEL,
        "the default of parameter 'layers' must be an int literal, not the str 'two'",
        1,
        21,
    ),
    Bad(
        "unknown parameter type",
        "param layers: integer = 2\n" + MODEL,
        "unknown parameter type 'integer'; did you mean 'int'? (types: int, float, str, bool)",
        1,
        15,
    ),
    Bad(
        "parameter declared twice",
        "param layers: int = 2\nparam layers: int = 3\n" + MODEL,
        "parameter 'layers' is already declared at 1:7",
        2,
        7,
    ),
    # -- includes --------------------------------------------------------------------------------
    Bad(
        "include cycle",
        'include "base.hx"\n' + MODEL,
        "include cycle: main.hx -> base.hx -> main.hx",
        2,
        9,
        files={"base.hx": '# base\ninclude "main.hx"\n'},
        where="base.hx",
    ),
    Bad(
        "file including itself",
        'include "main.hx"\n' + MODEL,
        "include cycle: main.hx -> main.hx",
        1,
        9,
    ),
    Bad(
        "missing include",
        'include "base.hx"\n' + MODEL,
        "included file 'base.hx' not found: no file {root}/base.hx"
        " (includes are relative to the including file)",
        1,
        9,
    ),
    Bad(
        "include escaping the folder",
        'include "../secrets.hx"\n' + MODEL,
        "include '../secrets.hx' is outside the spec's folder {root}; includes must stay inside it",
        1,
        9,
    ),
    Bad(
        "absolute include",
        'include "/etc/passwd"\n' + MODEL,
        "include '/etc/passwd' is outside the spec's folder {root}; includes must stay inside it",
        1,
        9,
    ),
    Bad(
        "syntax error in an included file",
        'include "base.hx"\n' + MODEL,
        "unknown section 'pipelin'; did you mean 'pipeline'?",
        2,
        1,
        files={"base.hx": "# shared passes\npipelin {\n  remove-dead-code\n}\n"},
        where="base.hx",
    ),
]


def _first_error(case: Bad, tmp_path) -> tuple[SpecError, str]:
    main = tmp_path / "main.hx"
    main.write_text(case.text)
    for name, text in case.files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(str(main), case.defines)
    return caught.value, str(tmp_path)


@pytest.mark.parametrize("case", BAD_SPECS, ids=[case.id for case in BAD_SPECS])
def test_bad_spec_reports_its_exact_message_and_position(case: Bad, tmp_path):
    error, root = _first_error(case, tmp_path)
    first = error.diagnostics[0]
    assert first.message == case.message.replace("{root}", root)
    if case.line is None:
        assert first.location is None  # a -D is on the command line, not in the spec
    else:
        assert (first.location.line, first.location.column) == (case.line, case.column)
        assert first.location.source.endswith(case.where)
    assert len(error.diagnostics) == case.count, [d.message for d in error.diagnostics]


def test_the_table_covers_enough_mistakes():
    assert len(BAD_SPECS) >= 18


@pytest.mark.parametrize(
    "case", [c for c in BAD_SPECS if not c.files and "include" not in c.text], ids=lambda c: c.id
)
def test_spec_text_reports_the_same_as_a_spec_file(case: Bad):
    # load_spec_text (hcc.build with text, tests, tools) must say what load_spec says.
    with pytest.raises(SpecError) as caught:
        load_spec_text(case.text, case.defines, source="main.hx")
    first = caught.value.diagnostics[0]
    assert first.message == case.message
    if case.line is not None:
        assert (first.location.line, first.location.column) == (case.line, case.column)


def test_error_text_shows_file_line_column_source_line_and_caret():
    text = MODEL + "pipeline {\n  remove-dead-cod\n}\n"
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, source="specs/x.hx")
    assert str(caught.value) == (
        "specs/x.hx:3:3: unknown pass 'remove-dead-cod'; did you mean 'remove-dead-code'?\n"
        "    remove-dead-cod\n"
        "    ^~~~~~~~~~~~~~~"
    )


def test_several_resolver_errors_in_one_file_are_reported_together():
    text = (
        'model bert from config "bert" {\n'
        "  sead = 1\n"  # 2: unknown model option
        "}\n"
        "inputs {\n"
        "  input_ids: int46[batch, seq]\n"  # 5: unknown dtype
        "}\n"
        "pipeline {\n"
        "  remove-dead-cod\n"  # 8: unknown pass
        "  strip-tags(hierarchy = 1)\n"  # 9: wrong type
        "}\n"
        'output "build/${nope}"\n'  # 11: undefined parameter
    )
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, source="main.hx")
    found = [
        (d.location.line, d.location.column, d.message.split(";")[0])
        for d in caught.value.diagnostics
    ]
    assert found == [
        (2, 3, "unknown model option 'sead'"),
        (5, 14, "unknown dtype 'int46'"),
        (8, 3, "unknown pass 'remove-dead-cod'"),
        (9, 26, "option 'hierarchy' of pass 'strip-tags' expects bool, got int 1"),
        (11, 15, "undefined parameter ${nope}"),
    ]
    assert str(caught.value).endswith("\n5 errors")


def test_syntax_errors_in_different_sections_are_reported_together():
    # After a syntax error the parser starts again at the next section keyword in column 1,
    # so each broken section reports its own mistake and nothing else.
    text = (
        'model bert from config "bert" {\n'
        "  seed = \n"
        "}\n"
        "inputs {\n"
        "  input_ids int64[batch, seq]\n"
        "}\n"
        "pipeline {\n"
        "  remove-dead-code(aggressive = true\n"
        "}\n"
        'output "build/x" { name = "ok" }\n'
    )
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, source="main.hx")
    found = [(d.location.line, d.location.column, d.message) for d in caught.value.diagnostics]
    assert found == [
        (3, 1, "unexpected '}'; expected a value"),
        (5, 13, "unexpected 'int64'; expected ':' or '='"),
        (9, 1, "unexpected '}'; expected ')' or ','"),
    ]


def test_syntax_errors_stop_at_a_limit():
    text = "".join("pipeline { a( }\n" for _ in range(30))
    with pytest.raises(SpecError) as caught:
        load_spec_text(text)
    assert len(caught.value.diagnostics) == 10


def test_a_missing_spec_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_spec(str(tmp_path / "nope.hx"))
    assert caught.value.diagnostics[0].message == f"spec file not found: {tmp_path}/nope.hx"
