"""Bad values: numbers the standard library cannot hold, options out of range, non-finite
parameters, and values that would make an error message huge or write control characters to
the terminal. Each is one line naming the file or field, and leaves every file as it was.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from test_bad_inputs import Case, _ann, _predictions, _set, _video, run_case
from vtkit.cli import main

HUGE_INT = "7" * 5000          # over Python's int-string conversion limit (4300 digits)
BEYOND_FLOAT = "1" + "0" * 400  # an int, but far beyond the float range


def _inspect_raw(text: str, name: str = "ann.json"):
    def run(tmp):
        (tmp / name).write_text(text, encoding="utf-8")
        return ["inspect", str(tmp / name)]
    return run


def _ann_text(start_time: str = "10.0", end_time: str = "40.0") -> str:
    """An annotation file as text, the goal's times given as raw JSON number literals."""
    return ('{"videos": [{"video_uid": "vid-a", "start_time": %s, "end_time": %s, "segments": [{"start_time": 12.0, '
            '"end_time": 20.0, "step_description": "crack eggs"}]}]}' % (start_time, end_time))


def _windows(literal: str) -> str:
    return "[" + ", ".join([literal] * 5) + "]"


def _test_split_text(count_literal: str) -> str:
    return '{"videos": [{"video_uid": "v", "step_segments": [{"step_description": "a", "segment_count": %s}]}]}' \
        % count_literal


def _evaluate_raw(times_literal: str | None = None, query_idx_literal: str | None = None):
    def run(tmp):
        pred, ann = _predictions(tmp, lambda s: s["results"][0].update(predicted_times="TIMES", query_idx=-777))
        text = pred.read_text().replace('"TIMES"', times_literal or "[[12.0, 20.0], [1, 2], [1, 2], [1, 2], [1, 2]]")
        pred.write_text(text.replace("-777", query_idx_literal or "0"))
        return ["evaluate", str(pred), str(ann)]
    return run


def _lengths(literal: str):
    def run(tmp):
        pred, ann = _predictions(tmp, lambda s: None)
        (tmp / "lengths.json").write_text(literal)
        return ["check-submission", str(pred), str(ann), "--video-lengths", str(tmp / "lengths.json")]
    return run


def _pack_opts(*opts: str):
    def run(tmp):
        return ["pack", str(_video(tmp)), str(tmp / "packed"), *opts]
    return run


def _predict_opts(*opts: str):
    def run(tmp):
        np.save(tmp / "feats.npy", np.ones((6, 4), np.float32))
        (tmp / "steps.txt").write_text("a\nb\n")
        return ["predict", "--features", str(tmp / "feats.npy"), "--steps", str(tmp / "steps.txt"),
                "--out", str(tmp / "seg.json"), *opts]
    return run


def _param(pair: str):
    def run(tmp):
        return ["run", "--out", str(tmp / "report"), "-p", pair]
    return run


def _yaml(text: str | bytes):
    def run(tmp):
        path = tmp / "p.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return ["run", "--out", str(tmp / "report"), "--params", str(path)]
    return run


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))

CASES = [
    # numbers the standard library cannot hold
    Case("time of 5000 digits", _inspect_raw(_ann_text(start_time=HUGE_INT)), ("ann.json", "start_time", "finite")),
    Case("time beyond the float range", _inspect_raw(_ann_text(end_time=BEYOND_FLOAT)),
         ("ann.json", "end_time", "finite")),
    Case("negative time beyond the float range", _inspect_raw(_ann_text(start_time="-" + BEYOND_FLOAT)),
         ("ann.json", "start_time", "finite")),
    Case("time as large as a float gets", _inspect_raw(_ann_text(end_time="1.7e308")),
         ("ann.json", "end_time", "at most")),
    Case("float literal overflowing to inf", _inspect_raw(_ann_text(end_time="1e999")),
         ("ann.json", "end_time", "finite")),
    Case("segment_count of 5000 digits", _inspect_raw(_test_split_text(HUGE_INT)),
         ("ann.json", "segment_count", "integer >= 1")),
    Case("JSON nested 100000 deep", _inspect_raw('{"videos": ' + "[" * 100000 + "]" * 100000 + "}"),
         ("ann.json", "nested too deeply")),
    Case("predicted time of 5000 digits", _evaluate_raw(_windows(f"[{HUGE_INT}, 1]")),
         ("pred.json", "predicted_times[0]", "not finite")),
    Case("predicted time beyond float range", _evaluate_raw(_windows(f"[0, {BEYOND_FLOAT}]")),
         ("pred.json", "not finite")),
    Case("query_idx of 5000 digits", _evaluate_raw(query_idx_literal=HUGE_INT), ("pred.json", "query_idx")),
    Case("predictions nested 100000 deep", _evaluate_raw(times_literal="[" * 100000 + "]" * 100000),
         ("pred.json", "nested too deeply")),
    # the submission checker's video lengths
    Case("video length NaN", _lengths('{"vid-a": NaN}'), ("lengths.json", "vid-a", "finite")),
    Case("video length Infinity", _lengths('{"vid-a": Infinity}'), ("lengths.json", "vid-a", "finite")),
    Case("video length negative", _lengths('{"vid-a": -30}'), ("lengths.json", "vid-a", "> 0")),
    Case("video length text", _lengths('{"vid-a": "30 s"}'), ("lengths.json", "vid-a")),
    Case("video length of 5000 digits", _lengths('{"vid-a": %s}' % HUGE_INT), ("lengths.json", "vid-a")),
    Case("video lengths a list", _lengths("[30, 40]"), ("lengths.json", "video_uid -> seconds")),
    # options
    Case("pack --chunk-seconds 0", _pack_opts("--chunk-seconds", "0"), ("--chunk-seconds", "> 0")),
    Case("pack --chunk-seconds inf", _pack_opts("--chunk-seconds", "inf"), ("--chunk-seconds", "finite")),
    Case("pack --chunk-seconds nan", _pack_opts("--chunk-seconds", "nan"), ("--chunk-seconds", "finite")),
    Case("pack --chunk-seconds negative", _pack_opts("--chunk-seconds=-2"), ("--chunk-seconds", "> 0")),
    Case("pack --chunk-seconds text", _pack_opts("--chunk-seconds", "two"), ("--chunk-seconds", "number")),
    Case("pack --frames-per-chunk negative", _pack_opts("--frames-per-chunk=-4"), ("--frames-per-chunk", ">= 1")),
    Case("pack --frames-per-chunk 0", _pack_opts("--frames-per-chunk", "0"), ("--frames-per-chunk", ">= 1")),
    Case("pack --frames-per-chunk fraction", _pack_opts("--frames-per-chunk", "2.5"),
         ("--frames-per-chunk", "integer")),
    Case("predict --chunk-seconds 0", _predict_opts("--chunk-seconds", "0"), ("--chunk-seconds", "> 0")),
    Case("predict --chunk-seconds nan", _predict_opts("--chunk-seconds", "nan"), ("--chunk-seconds", "finite")),
    Case("predict unknown aligner", _predict_opts("--aligner", "viterbi"), ("--aligner", "viterbi")),
    Case("predict missing --features", lambda t: ["predict", "--steps", "s.txt"], ("--features",)),
    # parameters: every float finite, every integer in range
    Case("lr=inf", _param("lr=inf"), ("lr", "finite")),
    Case("lr=.inf (YAML)", _param("lr=.inf"), ("lr", "finite")),
    Case("weight_decay=nan", _param("weight_decay=nan"), ("weight_decay", "finite")),
    Case("weight_decay=.nan (YAML)", _param("weight_decay=.nan"), ("weight_decay", "finite")),
    Case("skip_penalty=-inf", _param("skip_penalty=-inf"), ("skip_penalty", "finite")),
    Case("adapter_scale=1e999", _param("adapter_scale=1e999"), ("adapter_scale", "finite")),
    Case("lr of 400 digits", _param("lr=" + BEYOND_FLOAT), ("lr", "finite")),
    Case("seed beyond 64 bits", _param("seed=" + "9" * 30), ("seed", "out of range")),
    Case("epochs of 5000 digits", _param("epochs=" + HUGE_INT), ("epochs", "int")),
    Case("text with a NUL", _param("text_model=mini\x00lm"), ("text_model", "NUL")),
    Case("YAML lr: .inf", _yaml("lr: .inf\n"), ("p.yaml", "lr", "finite")),
    Case("YAML temperature: .nan", _yaml("temperature: .nan\n"), ("p.yaml", "temperature", "finite")),
    Case("YAML alias bomb", _yaml(ALIAS_BOMB), ("p.yaml", "aliases")),
    Case("YAML impossible date", _yaml("seed: 2024-13-45\n"), ("p.yaml", "not valid YAML")),
    Case("YAML nested 10000 deep", _yaml("a: " + "[" * 10000 + "]" * 10000 + "\n"), ("p.yaml",)),
    Case("YAML key that is not a name", _yaml("1: 2\nepochs: 3\n"), ("p.yaml", "not a name")),
    Case("YAML not UTF-8", _yaml(b"epochs: \xff\xfe\n"), ("p.yaml", "UTF-8")),
    Case("YAML python tag", _yaml("epochs: !!python/object/apply:os.system ['echo pwned']\n"), ("p.yaml", "YAML")),
    # messages stay short and printable
    Case("a 1 MB wrong-typed description", _inspect_raw(json.dumps({"videos": [{
        "video_uid": "vid-a", "start_time": 0, "end_time": 9, "segments": [
            {"start_time": 1, "end_time": 2, "step_description": list(range(200_000))}]}]})),
         ("ann.json", "step_description", "must be a string")),
    Case("a 100 kB parameter value", _param("epochs=" + "x" * 100_000), ("epochs", "...")),
    Case("escape sequences in a relevance value", lambda t: ["inspect", str(_ann(t, _set(
        "videos.0.segments.0.is_relevant", "\x1b[2J\x1b[31mcleared")))], ("is_relevant", "\\x1b[2J")),
    Case("escape sequences in a file name", lambda t: ["inspect", str(t / "ann\x1b]0;pwned\x07.json")],
         ("ann\\x1b]0;pwned\\x07.json", "not found")),
    Case("bidirectional override in a key=value", lambda t: ["run", "-p", "epochs\u202e"], ("-p", "\\u202e")),
]
for _case in CASES:
    _case.unchanged = True


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_value(case, tmp_path, capsys, monkeypatch):
    line = run_case(case, tmp_path, capsys, monkeypatch)
    assert len(line) < 1400


def test_the_alias_bomb_is_refused_at_once(tmp_path, capsys, monkeypatch):
    start = time.perf_counter()
    run_case(Case("bomb", _yaml(ALIAS_BOMB), ("aliases",)), tmp_path, capsys, monkeypatch)
    assert time.perf_counter() - start < 2


def test_inspect_json_is_strict_json(tmp_path, capsys):
    ann = _ann(tmp_path)
    assert main(["inspect", str(ann), "--json"]) == 0
    text = capsys.readouterr().out
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the output"))


def test_written_json_is_strict_and_names_the_field(tmp_path):
    from vtkit.errors import VtkitError
    from vtkit.io import write_json

    with pytest.raises(VtkitError, match=r"out\.json: segments\[1\]\.score: nan is not a finite number"):
        write_json(tmp_path / "out.json", {"segments": [{"score": 1.0}, {"score": float("nan")}]})
    assert list(tmp_path.iterdir()) == []


def test_a_submission_with_a_non_finite_window_is_not_written(tmp_path):
    from vtkit.errors import VtkitError
    from vtkit.submission import write_submission

    with pytest.raises(VtkitError, match=r"results\[0\]\.predicted_times\[1\]\[1\]"):
        write_submission(tmp_path / "sub.json", {("v", "v", 0): [(0.0, 1.0), (2.0, float("inf"))]})
    assert list(tmp_path.iterdir()) == []


def test_nan_lengths_no_longer_switch_the_bounds_check_off(tmp_path):
    from vtkit.annotations import load_annotations
    from vtkit.errors import VtkitError
    from vtkit.submission import check_submission

    pred, ann = _predictions(tmp_path, lambda s: None)
    with pytest.raises(VtkitError, match="vid-a.*finite"):
        check_submission(pred, load_annotations(ann), video_lengths={"vid-a": float("nan")})
    assert check_submission(pred, load_annotations(ann), video_lengths={"vid-a": 15.0}) != []  # 20 s > 15 s


@pytest.mark.parametrize("value, words", [
    ("inf", "finite"), ("nan", "finite"), ("-inf", "finite"), ("0", "> 0"), ("-0.5", "> 0"), ("x", "number"),
])
def test_positive_float_option(value, words):
    import argparse

    from vtkit.options import positive_float

    with pytest.raises(argparse.ArgumentTypeError, match=words):
        positive_float(value)
    assert positive_float("0.5") == 0.5 and positive_float("1e3") == 1000.0


def test_config_checks_every_float_field_from_its_type_hints():
    import typing
    from dataclasses import fields

    from vtkit.config import Config
    from vtkit.errors import VtkitError

    hints = typing.get_type_hints(Config)
    floats = [f.name for f in fields(Config) if hints[f.name] in (float, typing.Optional[float])]
    assert len(floats) >= 10
    for name in floats:
        for bad in (float("inf"), float("nan"), float("-inf")):
            with pytest.raises(VtkitError, match=f"{name}: must be a finite number"):
                Config.from_dict({name: bad})


def test_messages_are_cut_and_escaped():
    from vtkit.errors import VtkitError, describe

    assert describe("x" * 10_000).startswith("'xxx") and len(describe("x" * 10_000)) <= 80
    assert describe(10 ** 4999) == "<integer of about 5000 digits>"
    assert describe("\x1b[31m") == "'\\x1b[31m'"
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    assert len(describe(nested)) <= 80
    err = VtkitError("bad\nvalue\x00 \x9b here", path=Path("/a\udcff/b.json"), field="x" * 1000)
    text = str(err)
    assert text.isprintable() and "\n" not in text and len(text) < 600
    assert text.startswith("/a\\udcff/b.json: xxx") and "bad value\\x00 \\x9b here" in text
