"""Properties of the readers: arbitrary bytes or text never raise anything but VtkitError, and
valid inputs round-trip (JSON, YAML, parameters, annotations, predictions)."""
from __future__ import annotations

import json
import math
import typing
from dataclasses import fields

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtkit.annotations import load_annotations, summarize
from vtkit.config import Config, parse_overrides
from vtkit.errors import VtkitError, describe
from vtkit.io import json_text, parse_json, parse_yaml, read_json, read_yaml_mapping, write_json
from vtkit.submission import check_submission, read_predictions

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63) | st.text(max_size=20)
           | st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=25)
any_values = st.recursive(scalars | st.floats() | st.integers(), lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=25)
# bytes that look like JSON / YAML often enough to get past the first character
json_like = st.lists(st.sampled_from(['{', '}', '[', ']', ',', ':', '"', '"a"', '1', '-', '1e999', 'NaN', 'Infinity',
                                      '9' * 5000, 'null', 'true', '\\u0000', '\\ud800', ' ', '\n', '\xff']),
                     max_size=40).map("".join)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("readers") / "file"


def _only_vtkit_errors(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except VtkitError as err:
        text = str(err)
        assert "\n" not in text and text.isprintable() and len(text) < 2000
        return None


# ------------------------------------------------------------------------------------- JSON


@SETTINGS
@given(data=st.binary(max_size=200) | json_like.map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_read_json_of_any_bytes_raises_only_vtkit_errors(scratch, data):
    scratch.write_bytes(data)
    _only_vtkit_errors(read_json, scratch)


@SETTINGS
@given(value=json_values)
def test_json_round_trips(scratch, value):
    assert parse_json(json_text(value)) == value
    write_json(scratch, value)
    assert read_json(scratch) == value


@SETTINGS
@given(value=any_values)
def test_written_json_is_strict_or_a_one_line_error(value):
    text = _only_vtkit_errors(json_text, value, None)
    if text is not None:
        json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} written"))


# ------------------------------------------------------------------------------------- YAML


@SETTINGS
@given(text=st.text(max_size=120) | json_like | st.sampled_from(
    ["a: &x [1]\nb: *x\n", "!!python/name:os.system", "d: 2024-13-45", "? [a]\n: 1", "a: !!binary '%%'",
     "a: 1\na: 2", "[" * 1200, "x: !!float 'abc'", "x: !!int 'abc'", "%YAML 9.9\n---\na: 1"]))
def test_parse_yaml_raises_only_value_errors(text):
    try:
        parse_yaml(text)
    except ValueError as err:
        assert "\n" not in str(err)


@SETTINGS
@given(data=st.binary(max_size=200) | st.text(max_size=120).map(str.encode))
def test_read_yaml_mapping_of_any_bytes_raises_only_vtkit_errors(scratch, data):
    scratch.write_bytes(data)
    result = _only_vtkit_errors(read_yaml_mapping, scratch)
    assert result is None or (isinstance(result, dict) and all(isinstance(k, str) for k in result))


yaml_scalars = (st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63) | st.floats(allow_nan=False)
                | st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp")),
                          max_size=20))


@SETTINGS
@given(mapping=st.dictionaries(st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=10),
                               yaml_scalars | st.lists(yaml_scalars, max_size=3), max_size=5))
def test_yaml_mappings_round_trip(scratch, mapping):
    scratch.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    assert read_yaml_mapping(scratch) == mapping


# ------------------------------------------------------------------------------------- parameters

HINTS = typing.get_type_hints(Config)
NAMES = Config.names()


@SETTINGS
@given(name=st.sampled_from(NAMES) | st.text(max_size=10), text=st.text(max_size=40) | json_like)
def test_any_key_value_text_raises_only_vtkit_errors(name, text):
    cfg = _only_vtkit_errors(lambda: Config.from_dict(parse_overrides([f"{name}={text}"]), source="-p"))
    if cfg is not None:
        for f in fields(cfg):
            value = getattr(cfg, f.name)
            assert not isinstance(value, float) or math.isfinite(value)


@SETTINGS
@given(values=st.dictionaries(st.sampled_from(NAMES), any_values, max_size=4))
def test_any_parameter_values_raise_only_vtkit_errors(values):
    _only_vtkit_errors(Config.from_dict, values)


def _number_fields():
    return [f.name for f in fields(Config) if HINTS[f.name] in (int, float, typing.Optional[int],
                                                                typing.Optional[float])]


@SETTINGS
@given(data=st.data())
def test_valid_parameters_round_trip_through_text(data):
    """A valid config written as ``-p name=value`` pairs (as Python prints the values) reads back equal."""
    base = Config()
    changes = {}
    for name in data.draw(st.lists(st.sampled_from(_number_fields()), max_size=4, unique=True)):
        kind = typing.get_args(HINTS[name])[0] if typing.get_args(HINTS[name]) else HINTS[name]
        value = getattr(base, name)
        if kind is float:
            value = data.draw(st.floats(0.001, 0.99) if name in ("clip_alpha", "warmup_fraction", "lr")
                              else st.floats(0.0, 100.0) if name != "chunk_seconds" else st.floats(0.5, 10.0))
        changes[name] = value
    try:
        cfg = base.replace(**changes)
    except VtkitError:  # e.g. a combination out of range
        return
    pairs = [f"{k}={getattr(cfg, k)!r}" for k in changes]
    assert Config.from_dict(parse_overrides(pairs)) == cfg


# ------------------------------------------------------------------------------------- annotations, predictions

video_keys = st.sampled_from(["video_uid", "start_time", "end_time", "segments", "step_segments", "goal_category"])
step_keys = st.sampled_from(["start_time", "end_time", "step_description", "is_relevant", "segments",
                             "segment_count", "step_category"])
field_values = (st.sampled_from([0, 1.5, 12.0, -1, 1e308, 1e7 + 1, "vid-a", "../x", "", "essential", None, True])
                | st.floats() | st.integers() | st.text(max_size=6))
steps = st.lists(st.dictionaries(step_keys, field_values | st.lists(st.dictionaries(step_keys, field_values,
                                                                                       max_size=4), max_size=2),
                                 max_size=6), max_size=3)
videos = st.lists(st.dictionaries(video_keys, field_values | steps, max_size=6) | field_values, max_size=3)


@SETTINGS
@given(doc=st.dictionaries(st.sampled_from(["videos", "split", "version"]), videos | field_values, max_size=3)
       | any_values)
def test_annotation_reader_raises_only_vtkit_errors(scratch, doc):
    scratch.write_text(json.dumps(doc), encoding="utf-8")
    ann = _only_vtkit_errors(load_annotations, scratch)
    if ann is not None:
        json_text(summarize(ann))  # what inspect --json prints is strict JSON
        for q in ann.queries():
            assert q.start is None or (0 <= q.start < q.end <= 1e7)


@SETTINGS
@given(results=st.lists(st.dictionaries(st.sampled_from(["clip_uid", "annotation_uid", "query_idx",
                                                         "predicted_times"]),
                                        field_values | st.lists(st.lists(field_values, max_size=3), max_size=6),
                                        max_size=4), max_size=3) | any_values)
def test_prediction_readers_raise_only_vtkit_errors(tmp_path_factory, results):
    folder = tmp_path_factory.mktemp("pred")
    (folder / "ann.json").write_text(json.dumps({"videos": [{"video_uid": "vid-a", "start_time": 0.0, "end_time": 40.0,
                                                             "segments": [{"start_time": 1.0, "end_time": 9.0,
                                                                           "step_description": "a"}]}]}))
    ann = load_annotations(folder / "ann.json")
    (folder / "pred.json").write_text(json.dumps({"version": "1.0", "challenge": "ego4d_goalstep_challenge",
                                                  "results": results}))
    _only_vtkit_errors(read_predictions, folder / "pred.json", ann)
    problems = _only_vtkit_errors(check_submission, folder / "pred.json", ann, {"vid-a": 40.0})
    assert problems is None or all(isinstance(p, str) for p in problems)


# ------------------------------------------------------------------------------------- messages


@SETTINGS
@given(value=any_values | st.binary(max_size=50) | st.text(max_size=500))
def test_describe_is_short_and_printable(value):
    text = describe(value)
    assert len(text) <= 80 and text.isprintable()


@SETTINGS
@given(message=st.text(max_size=3000), path=st.none() | st.text(max_size=600), field=st.none() | st.text(max_size=50))
def test_error_messages_are_one_bounded_printable_line(message, path, field):
    text = str(VtkitError(message, path=path, field=field))
    assert "\n" not in text and text.isprintable() and len(text) < 1800
