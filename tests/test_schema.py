"""The settings schema (``engine.schema``) and the value checks it shares with every engine entry point: each
message names the setting and its valid values, descriptions are plain JSON, and feature visualisation's
options are declared by it."""

import inspect
import json

import numpy as np
import pytest

from cnnviz_widgets.engine import SettingError
from cnnviz_widgets.engine.attribution import METHODS, AttributionError
from cnnviz_widgets.engine.checks import check_bool, check_choice, check_float, check_int
from cnnviz_widgets.engine.errors import CnnvizError, FeatureVisError
from cnnviz_widgets.engine.featurevis import VISUALIZATION_OPTIONS, Visualization
from cnnviz_widgets.engine.schema import Option, check_settings, describe

STEPS = Option("steps", "steps", "int", 50, 2, 1000)
NOISE = Option("noise", "noise", "float", 0.15, 0.0, 1.0, unit="%")
BASELINE = Option("baseline", "baseline", "float", 0.0, -3.0, 3.0, choices=("mean", "blur"))
MODE = Option("mode", "mode", "choice", "a", choices=("a", "b"))
FLAG = Option("flag", "flag", "bool", True, when=(("mode", ("b",)),))
SIZE = Option("size", "size", "int", None, 1, 4096, optional=True, unit="px", group="picture", help="Side")
SCHEMA = (STEPS, NOISE, BASELINE, MODE, FLAG, SIZE)


@pytest.mark.parametrize(
    "option,value,message",
    [
        (STEPS, 1, r"^steps must be a number in 2\.\.1000, got 1$"),
        (STEPS, 2.5, r"^steps must be a whole number in 2\.\.1000, got 2\.5$"),
        (STEPS, "3", r"^steps must be a whole number in 2\.\.1000, got '3'$"),
        (STEPS, True, r"^steps must be a whole number in 2\.\.1000, got True$"),
        (STEPS, None, r"^steps must be a whole number in 2\.\.1000, got None$"),
        (NOISE, -1, r"^noise must be a number in 0\.\.1, got -1$"),
        (NOISE, float("nan"), r"^noise must be a number in 0\.\.1, got nan$"),
        (NOISE, float("inf"), r"^noise must be a number in 0\.\.1, got inf$"),
        (BASELINE, "grey", r"^baseline must be a number in -3\.\.3 or one of: mean, blur; got 'grey'$"),
        (BASELINE, 5, r"^baseline must be a number in -3\.\.3, got 5$"),
        (MODE, "c", r"^mode must be one of: a, b; got 'c'$"),
        (FLAG, 1, r"^flag must be True or False, got 1$"),
        (SIZE, 0, r"^size must be a number in 1\.\.4096, got 0$"),
    ],
)
def test_option_check_names_the_option_and_its_valid_values(option, value, message):
    with pytest.raises(SettingError, match=message) as info:
        option.check(value)
    assert isinstance(info.value, CnnvizError) and isinstance(info.value, ValueError)


def test_option_check_returns_the_value_in_the_options_type():
    assert STEPS.check(np.int64(7)) == 7 and type(STEPS.check(7.0)) is int
    assert NOISE.check(np.float32(0.5)) == 0.5 and type(NOISE.check(1)) is float
    assert BASELINE.check("blur") == "blur" and BASELINE.check(-1) == -1.0
    assert FLAG.check(np.bool_(False)) is False
    assert SIZE.check(None) is None and SIZE.check(224) == 224
    with pytest.raises(SettingError, match=r"^steps must be a whole number"):
        STEPS.check(None)  # only an optional option takes None


def test_an_option_whose_default_is_invalid_cannot_be_declared():
    with pytest.raises(SettingError, match=r"^steps must be a number in 2\.\.10, got 50$"):
        Option("steps", "steps", "int", 50, 2, 10)
    with pytest.raises(SettingError, match=r"^kind must be one of: int, float, bool, choice; got 'str'$"):
        Option("name", "name", "str", "x")


def test_check_settings_fills_defaults_and_refuses_unknown_names_naming_the_valid_ones():
    assert check_settings(SCHEMA, {"steps": 9.0, "mode": "b"}) == {
        "steps": 9,
        "noise": 0.15,
        "baseline": 0.0,
        "mode": "b",
        "flag": True,
        "size": None,
    }
    with pytest.raises(SettingError, match=r"^unknown option 'stepz'; the options are: steps, noise, baseline, mode"):
        check_settings(SCHEMA, {"stepz": 3})
    with pytest.raises(SettingError, match=r"^gradient has no option 'steps'; its options: none$"):
        check_settings((), {"steps": 3}, "gradient")
    with pytest.raises(SettingError, match=r"^noise must be a number in 0\.\.1, got 2$"):
        check_settings(SCHEMA, {"noise": 2})


def test_descriptions_are_plain_json_with_when_as_a_mapping():
    described = describe(SCHEMA)
    assert json.loads(json.dumps(described)) == described  # lists, not tuples; nothing JSON cannot hold
    by_name = {d["name"]: d for d in described}
    assert by_name["flag"]["when"] == {"mode": ["b"]}
    assert by_name["baseline"]["choices"] == ["mean", "blur"]
    assert by_name["size"] == {
        "name": "size",
        "label": "size",
        "kind": "int",
        "default": None,
        "low": 1,
        "high": 4096,
        "choices": [],
        "group": "picture",
        "help": "Side",
        "unit": "px",
        "optional": True,
        "when": {},
    }
    assert "low" not in Option("w", "w", "float", 0.0).describe()  # an open range is left out, not null
    assert FLAG.applies({"mode": "b"}) and not FLAG.applies({"mode": "a"}) and STEPS.applies({})


def test_shared_checks_raise_the_callers_error():
    with pytest.raises(AttributionError, match=r"^samples must be a number >= 1, got 0$"):
        check_int("samples", 0, 1, error=AttributionError)
    with pytest.raises(FeatureVisError, match=r"^x must be a whole number, got 'a'$"):
        check_int("x", "a", error=FeatureVisError)
    with pytest.raises(SettingError, match=r"^lr must be a number <= 10, got 11$"):
        check_float("lr", 11, high=10)
    with pytest.raises(SettingError, match=r"^on must be True or False, got 'yes'$"):
        check_bool("on", "yes")
    with pytest.raises(SettingError, match=r"^kind must be one of: a, b; got 'c'$"):
        check_choice("kind", "c", ("a", "b"))


def test_attribution_options_keep_their_error_type():
    with pytest.raises(AttributionError, match=r"^integrated_gradients has no option 'samples'; its options: steps"):
        METHODS["integrated_gradients"].check({"samples": 3})
    with pytest.raises(AttributionError, match=r"^steps must be a number in 2\.\.1000, got 1$"):
        METHODS["integrated_gradients"].check({"steps": 1})


def test_visualization_declares_its_options_with_its_own_defaults():
    signature = inspect.signature(Visualization).parameters
    assert Visualization.options is VISUALIZATION_OPTIONS
    for option in VISUALIZATION_OPTIONS:
        assert signature[option.name].default == option.default, option.name
        assert option.group in ("picture", "optimiser", "regularisers") and option.help, option.name
    names = {o.name for o in VISUALIZATION_OPTIONS}
    assert names == {
        "param",
        "decorrelate",
        "squash",
        "transforms",
        "lr",
        "tv",
        "l2",
        "decay",
        "blur_every",
        "blur_sigma",
        "clip_norm",
        "clip_contribution",
        "seed",
    }
    pixel_only = {o.name for o in VISUALIZATION_OPTIONS if o.when}
    assert pixel_only == {"decay", "blur_every", "blur_sigma", "clip_norm", "clip_contribution"}
    assert all(o.when == (("param", ("pixel",)),) for o in VISUALIZATION_OPTIONS if o.when)
    json.dumps(describe(VISUALIZATION_OPTIONS))
