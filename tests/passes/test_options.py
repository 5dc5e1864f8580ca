"""Option declarations and validate_options: every error names what was expected."""

from __future__ import annotations

import pytest

from hcc.passes import (
    REQUIRED,
    Option,
    Pass,
    PassResult,
    PipelineError,
    RemoveDeadCodePass,
    SourceLocation,
    validate_options,
)


class _Configurable(Pass):
    """A pass with one option of each kind."""

    name = "configurable"
    flag = Option(bool, False, "a switch")
    count = Option(int, 2, "how many", min=0, max=10)
    ratio = Option(float, 0.5, "a fraction", min=0.0, max=1.0)
    label = Option(str, "x", "any text")
    where = Option(str, "first", "an enum", choices=["first", "last", "none"])
    names = Option(list[str], [], "some names")
    sizes = Option(list[int], [1, 2], "some sizes", min=1)
    pick = Option(list[str], ["a"], "a subset", choices=["a", "b"])

    def call(self, model):
        return PassResult(model, False)


INFO = _Configurable.info()


def _error(options, **kwargs) -> str:
    with pytest.raises(PipelineError) as caught:
        validate_options(INFO, options, **kwargs)
    return str(caught.value)


def test_defaults_are_filled_in():
    assert validate_options(INFO, {}) == {
        "flag": False,
        "count": 2,
        "ratio": 0.5,
        "label": "x",
        "where": "first",
        "names": [],
        "sizes": [1, 2],
        "pick": ["a"],
    }


def test_values_are_converted():
    values = validate_options(INFO, {"ratio": 1, "sizes": (3, 4), "names": ["p"], "where": "last"})
    assert values["ratio"] == 1.0 and isinstance(values["ratio"], float)
    assert values["sizes"] == [3, 4] and values["names"] == ["p"] and values["where"] == "last"


def test_each_instance_gets_its_own_list():
    first, second = _Configurable(), _Configurable()
    first.sizes.append(99)  # the attribute returns the stored list; mutate it on purpose
    assert second.sizes == [1, 2]
    assert _Configurable.sizes.default == [1, 2]


def test_unknown_option_names_the_valid_ones():
    message = _error({"flg": True})
    assert "pass 'configurable' has no option 'flg'; did you mean 'flag'?" in message
    assert "(options: flag, count, ratio, label, where, names, sizes, pick)" in message


def test_unknown_option_of_a_pass_without_options():
    class Bare(_Configurable.__base__):  # Pass
        name = "bare"

    with pytest.raises(PipelineError, match="pass 'bare' takes no options, got 'x'"):
        validate_options(Bare.info(), {"x": 1})


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"flag": 1}, "option 'flag' of pass 'configurable' expects bool, got int 1"),
        ({"flag": "true"}, "expects bool, got str 'true'"),
        ({"count": True}, "expects int in [0, 10], got bool true"),
        ({"count": 1.5}, "expects int in [0, 10], got float 1.5"),
        ({"count": "3"}, "expects int in [0, 10], got str '3'"),
        ({"ratio": "half"}, "expects float in [0.0, 1.0], got str 'half'"),
        ({"label": 3}, "expects str, got int 3"),
        ({"names": "a"}, "expects list[str], got str 'a'"),
        ({"names": ["a", 1]}, "expects list[str], got list ['a', 1]"),
        ({"sizes": [1, "2"]}, "expects list[int >= 1], got list [1, '2']"),
    ],
)
def test_wrong_type_names_the_expected_type(options, expected):
    assert expected in _error(options)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"count": -1}, "option 'count' of pass 'configurable' expects int in [0, 10], got int -1"),
        ({"count": 11}, "expects int in [0, 10], got int 11"),
        ({"ratio": 1.5}, "expects float in [0.0, 1.0], got float 1.5"),
        ({"sizes": [0]}, "expects list[int >= 1], got list [0]"),
    ],
)
def test_out_of_range_names_the_range(options, expected):
    assert expected in _error(options)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_float_option_takes_only_finite_numbers(value):
    # NaN passes every bound check (its comparisons are all false): it is refused by name.
    assert (
        f"expects float in [0.0, 1.0], got float {value!r} (a finite number is needed)"
        in _error({"ratio": value})
    )


def test_choices_suggest_the_closest():
    message = _error({"where": "frist"})
    assert (
        "expects one of 'first', 'last', 'none', got str 'frist'; did you mean 'first'?" in message
    )
    assert "expects list of 'a', 'b', got list ['c']" in _error({"pick": ["c"]})


def test_required_option_must_be_given():
    class NeedsBy(Pass):
        name = "needs-by"
        by = Option(str, REQUIRED, "the pattern")

    with pytest.raises(PipelineError, match=r"pass 'needs-by' needs option 'by' \(str\)"):
        NeedsBy()
    assert NeedsBy(by="x").by == "x"
    assert str(NeedsBy(by="x")) == "needs-by(by='x')"


def test_errors_carry_the_location_of_the_option_when_known():
    whole = SourceLocation("spec.hx", 3, 5, 10, "    configurable(count=-1)")
    option = SourceLocation("spec.hx", 3, 18, 8, "    configurable(count=-1)")
    with pytest.raises(PipelineError) as caught:
        validate_options(INFO, {"count": -1}, whole, option_locations={"count": option})
    assert caught.value.source_location == option
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("spec.hx:3:18: option 'count'")
    assert lines[2] == "  " + " " * 17 + "^~~~~~~~"


def test_errors_without_location_are_one_line():
    assert "\n" not in _error({"count": -1})


def test_pass_constructor_validates_keywords():
    with pytest.raises(
        PipelineError, match="option 'aggressive' of pass 'remove-dead-code' expects bool"
    ):
        RemoveDeadCodePass(aggressive="yes")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Option(dict, {}), "unsupported option type"),
        (lambda: Option(list[dict], []), "unsupported option type"),
        (lambda: Option(str, "x", min=1), "min and max apply to int and float"),
        (lambda: Option(int, "3"), "default '3' of an option expects int"),
        (lambda: Option(str, "z", choices=["a"]), "default 'z' of an option expects one of 'a'"),
    ],
)
def test_bad_declarations_are_programming_errors(make, message):
    with pytest.raises(TypeError, match=message):
        make()
