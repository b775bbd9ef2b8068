"""Run outputs, written and read in one place: the training summary, ``metrics.json``, prediction
files, the HTML report and the README's results block.

``training.json`` (notebook 02): what training chose and how it went, with timings.
``metrics.json`` (notebook 04): per aligner the headline metrics (fractions), the query count, per level,
the untrained reference, the training summary without timings (so reruns give identical files), and
where the DFS fell back. ``report.html``: everything above with the figures, self-contained.
"""
from __future__ import annotations

import base64
import html
import json
import math
import platform
import re
import struct
from pathlib import Path
from typing import Any, Mapping

from vtkit.config import PATH_FIELDS, Config
from vtkit.errors import VtkitError
from vtkit.io import atomic_path, read_json, write_json, write_text
from vtkit.metrics import LEVEL_BREAKDOWNS, METRIC_NAMES, duration_buckets

TRAINING_FILE = "training.json"
METRICS_FILE = "metrics.json"


# --------------------------------------------------------------------------- records


COMPARED = ("heldout_t2v_R1", "heldout_R1@0.3", "heldout_step_R1@0.3", "heldout_substep_R1@0.3")


def selection_before_after(result) -> tuple[dict, dict]:
    """The selection split's metrics of epoch 0 (the model before any step: ``result.start``) and of the best epoch."""
    rows = {row["epoch"]: row for row in result.history}

    def value(v):   # not measured (NaN) is null in JSON
        return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)

    return tuple({k: value(rows[epoch].get(k)) for k in COMPARED} for epoch in (0, result.best_epoch))


def _start_name(training: dict) -> str:
    """What epoch 0 was (records from before the ridge start name none: they started untrained)."""
    return training.get("start", "untrained")


def training_summary(result) -> dict:
    """The ``training.json`` record of a :class:`vtkit.train.TrainResult`."""
    params = {"trainable": result.trainable_params, "total": result.total_params}
    untrained, trained = selection_before_after(result)
    return {"metric": result.metric, "best_metric": result.best_metric, "best_epoch": result.best_epoch,
            "epochs": result.epochs_run, "stopped_early": result.stopped_early, "seconds": round(result.seconds, 2),
            "params": params, "pairs_per_second": round(result.pairs_per_second, 1),
            "start": result.start, "untrained": untrained, "trained": trained,
            "chosen_by": result.chosen_by, "choices": dict(result.choices), "selection_table": dict(result.selection_table),
            "selection_hits": dict(result.selection_hits),
            "selection_mode_hits": dict(result.selection_mode_hits), "timings": dict(result.timings)}


def write_training_summary(out_dir: str | Path, summary: dict) -> Path:
    return write_json(Path(out_dir) / TRAINING_FILE, summary)


def read_training_summary(out_dir: str | Path) -> dict | None:
    """``training.json`` of a run folder, or None when training did not run there."""
    path = Path(out_dir) / TRAINING_FILE
    if not path.is_file():
        return None
    data = read_json(path, "training summary")
    if not isinstance(data, dict):
        raise VtkitError("expected a JSON object", path=path)
    return data


def metrics_record(scores: Mapping[str, dict], queries: int, reference: dict | None = None,
                   training: dict | None = None, **extra) -> dict:
    """The ``metrics.json`` of a run: ``{"aligners": {name: headline metrics}, "queries": n, "by_level": ...,
    "by_duration": ..., "by_recurrence": ..., "untrained_dp": ..., "training": ..., **extra}`` from :func:`vtkit.metrics.score` results (fractions)."""
    out = {"aligners": {a: {m: s[m] for m in METRIC_NAMES} for a, s in scores.items()}, "queries": queries, **extra,
           "by_level": {a: {level: {m: g[m] for m in (*METRIC_NAMES, "queries")} for level, g in s["by_level"].items()}
                        for a, s in scores.items() if "by_level" in s},
           **{key: {a: {level: {g: {m: r[m] for m in (*METRIC_NAMES, "queries")} for g, r in groups.items()}
                        for level, groups in s[key].items()}
                    for a, s in scores.items() if key in s}
              for key in LEVEL_BREAKDOWNS}}
    if reference is not None:
        out["untrained_dp"] = {m: reference[m] for m in METRIC_NAMES}
    if training is not None:  # results only: timings stay in training.json, so reruns give identical files
        out["training"] = {k: v for k, v in training.items() if k not in ("seconds", "pairs_per_second", "timings")}
    return out


def write_metrics(out_dir: str | Path, record: dict) -> Path:
    return write_json(Path(out_dir) / METRICS_FILE, record)


def read_metrics(path: str | Path) -> dict:
    """A ``metrics.json`` (file or run folder), checked to be an object."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    data = read_json(path, "metrics")
    if not isinstance(data, dict):
        raise VtkitError("expected a JSON object", path=path)
    return data


def write_timings(out_dir: str | Path, timings: dict) -> Path:
    """``timings.json``: seconds per phase of the evaluation (kept out of metrics.json, which reruns reproduce)."""
    return write_json(Path(out_dir) / "timings.json", timings)


def write_predictions(out_dir: str | Path, split, annotations, lengths: Mapping[str, float] | None = None) -> list[Path]:
    """``predictions_<aligner>.json`` per aligner of a :class:`vtkit.predict.SplitPredictions`, each checked
    against ``annotations`` (the answered videos) before it counts as written."""
    from vtkit.submission import check_submission, write_submission

    paths = []
    for aligner, predictions in split.by_aligner.items():
        path = write_submission(Path(out_dir) / f"predictions_{aligner}.json", predictions)
        problems = check_submission(path, annotations, lengths)
        if problems:
            raise VtkitError(f"{len(problems)} problem(s), first: {problems[0]}", path=path)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- tables, README, HTML


def _percent(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{100 * value:.2f}"
    return "–" if value is None else str(value)


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def aligner_table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """``(metric columns, rows [aligner, value %, ...])`` from a metrics.json mapping."""
    aligners = metrics.get("aligners", {})
    if not isinstance(aligners, dict) or not all(isinstance(v, dict) for v in aligners.values()):
        raise VtkitError("expected a mapping aligner -> {metric: value}", path="metrics.json", field="aligners")
    seen = [m for scores in aligners.values() for m in scores]
    columns = [m for m in METRIC_NAMES if m in seen]
    columns += [m for m in dict.fromkeys(seen) if m not in columns]
    rows = [[str(name)] + [_percent(scores.get(m)) for m in columns] for name, scores in aligners.items()]
    return columns, rows


def other_metrics(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every scalar outside ``aligners``, nested mappings flattened as ``outer/inner``."""
    out: list[tuple[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}" if prefix else str(k), v)
        elif value is None or isinstance(value, (str, int, float, bool)):
            out.append((prefix, value))

    walk("", {k: v for k, v in metrics.items() if k != "aligners"})
    return out


def metrics_markdown(metrics: dict[str, Any]) -> str:
    """Markdown table of the aligners' metrics (percent, 2 decimals)."""
    columns, rows = aligner_table(metrics)
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731
    lines = ["| aligner | " + " | ".join(cell(c) for c in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def publish_block(readme: str | Path, name: str, text: str, command: str) -> Path:
    """Replace the README block ``<!-- NAME:start ... -->`` .. ``<!-- NAME:end -->`` with ``text``, noting
    the ``command`` that wrote it (benchmarks publish their tables this way, never typed by hand)."""
    readme = Path(readme)
    body = readme.read_text(encoding="utf-8")
    start_tag, end = f"<!-- {name}:start", f"<!-- {name}:end -->"
    if start_tag not in body or end not in body:
        raise VtkitError(f"no block markers ({start_tag} -->, {end})", path=readme)
    a, b = body.index(start_tag), body.index(end) + len(end)
    block = f"{start_tag} (written by `{command}`; do not edit by hand) -->\n\n{text.strip()}\n\n{end}"
    return write_text(readme, body[:a] + block + body[b:])


README_START = "<!-- results:start (written by `make run`; do not edit by hand) -->"
README_END = "<!-- results:end -->"


def publish(run_dir: str | Path, readme: str | Path = "README.md", figure_dir: str | Path = "reports/figures") -> Path:
    """Put a run's results into the README (between the results markers) and its overview figure beside it.

    The block holds the metrics table, the query count and the run's wall time, so the README's
    numbers always come from an actual run.
    """
    run_dir, readme = Path(run_dir), Path(readme)
    metrics = read_metrics(run_dir)
    record = read_json(run_dir / "run.json", "run record")
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise VtkitError(f"no results markers ({README_START} ... {README_END})", path=readme)
    params = record.get("parameters", {})
    seconds = sum(float(n.get("seconds") or 0) for n in record.get("notebooks", []))
    per_nb = ", ".join(f"{Path(n['name']).stem.split('_')[0]} {float(n.get('seconds') or 0):.0f} s"
                       for n in record.get("notebooks", []))
    training = metrics.get("training", {})
    lines = [README_START, "",
             f"Results of the last `make run` (val annotations `{Path(str(params.get('val_annotations'))).name}`, "
             f"{metrics.get('queries')} queries: steps and substeps; percentages):", "",
             metrics_markdown(metrics).rstrip(), ""]
    if "untrained_dp" in metrics:
        u = metrics["untrained_dp"]
        lines.append("Untrained model (fitted to no data) with the DP aligner (reference): "
                     + ", ".join(f"{m} {100 * u[m]:.2f}" for m in METRIC_NAMES if m in u) + ".")
    if training.get("chosen_by"):
        chosen, fixed = chosen_and_fixed(training, params)
        lines.append(f"Chosen on {training['chosen_by']}, never on val: {_join(chosen)}; val is scored once, at the end."
                     + (f" Set by the parameters: {_join(fixed)}." if fixed else ""))
    if training.get("untrained") and training.get("trained"):
        before, after = training["untrained"], training["trained"]
        lines.append(f"On the selection split, training from the {_start_name(training)} (epoch 0) takes text-to-video R@1 from "
                     f"{100 * (before.get('heldout_t2v_R1') or 0):.1f} to {100 * (after.get('heldout_t2v_R1') or 0):.1f} "
                     f"and alignment R1@0.3 (steps and substeps) from {100 * (before.get('heldout_R1@0.3') or 0):.1f} "
                     f"to {100 * (after.get('heldout_R1@0.3') or 0):.1f}.")
    if "dropdtw" in metrics.get("aligners", {}):
        lines.append("Drop-DTW with contiguous steps solves the DP's objective with the drop cost as minus the "
                     "background, so its row repeats the DP's.")
    if metrics.get("dfs_over_budget_videos"):
        lines.append(f"DFS exceeded its node budget on {metrics['dfs_over_budget_videos']} of {metrics.get('videos')} "
                     "videos; there the DP answer (the same optimum) stands in for it.")
    versions = record.get("versions", {})
    lines += ["", f"Wall time of the {len(record.get('notebooks', []))} notebooks: {seconds:.0f} s ({per_nb}); "
                  f"torch {versions.get('torch', '?')}, device {params.get('device', '?')}, "
                  f"{versions.get('machine', platform.machine())}.", "", README_END]
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    write_text(readme, text[:start] + "\n".join(lines) + text[end:])
    overview = run_dir / "figures" / "overview.png"
    if overview.is_file():
        target = Path(figure_dir) / "overview.png"
        with atomic_path(target) as tmp:
            tmp.write_bytes(overview.read_bytes())
    return readme


# --------------------------------------------------------------------------- report.html

HEADLINE_FIGURE = "overview"
NOTEBOOK_TITLES = {"01": "01 Data inspection", "02": "02 Training", "03": "03 Similarity analysis",
                   "04": "04 Evaluation"}
# figure file name (without .png) -> its one-line caption, in notebook order; "<i>" in a name stands for a
# number, "{n}" in its caption for that number plus one
FIGURE_CAPTIONS = {
    "overview": "A val video: similarity of each step (rows) to each video chunk (columns), the ground-truth "
                "segments (boxes) and the DP alignment.",
    "01_timelines": "Steps and substeps of the first videos on their timelines, the goal segment shaded.",
    "01_durations": "Durations of steps and substeps (log scale), medians dashed.",
    "01_coverage": "Share of each video's goal segment covered by its steps.",
    "01_descriptions": "Words per step description, and the most repeated descriptions.",
    "02_training_curves": "Training curves per epoch: the training loss and, on the selection split (held-out "
                          "train videos), loss, text-to-video R@1 and alignment R1@0.3; the learning rate; the "
                          "best epoch dotted.",
    "02_untrained_vs_trained": "Selection split: epoch 0 (the model before any step; with projection_init=ridge "
                               "the linear probe training starts from) against the best epoch.",
    "03_heatmap_<i>": "Val video {n}: step × chunk similarity, the ground truth (boxes) and the DP, DFS and "
                      "Drop-DTW segments.",
    "03_similarity_distributions": "Val, trained model: similarity of matching against non-matching "
                                   "(step, chunk) pairs.",
    "03_trained_vs_untrained": "Val: the same distributions for the untrained backbone and the trained model.",
    "03_frames": "Frames of the first step of the first val video: its predicted segment (top) and its "
                 "ground truth (bottom), from the video files the features were extracted from.",
    "03_explorer": "Explorer, static view: the first val video's first steps, similarity over time, the ground "
                   "truth, the alignment and its top-k windows.",
    "04_recall_curves": "Val: R@1 and R@5 against the IoU threshold, per aligner.",
    "04_level_breakdown": "Val metrics per aligner, steps and substeps apart.",
    "04_duration_breakdown": "Val R@1 at IoU 0.3 of the configured aligner by annotated duration, steps and substeps apart.",
    "04_metric_bars": "Val metrics per aligner, with the untrained model's DP as reference.",
}
_CAPTION_PATTERNS = [(key, re.compile(re.escape(key).replace("<i>", r"(\d+)"))) for key in FIGURE_CAPTIONS]
OTHER_FIGURES = "Other figures"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# the Config field that opens each parameter group; the fields follow Config's order
PARAMETER_GROUPS = {"video_root": "data", "embed_dim": "model", "negative_ratio": "training",
                    "selection_fraction": "selection", "aligner": "alignment"}
# parameters holding a path: the default's file name counts as the default (runs make paths absolute)
PATH_PARAMETERS = (*PATH_FIELDS, "out_dir", "text_model", "text_cache_dir", "feature_cache_dir", "checkpoint",
                   "selection_annotations")

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 700px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin: 1.8em 0 0.5em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin: 1.4em 0 0.4em; }
p.meta { color: #555; font-size: 0.9em; margin-top: 0; }
p.note { color: #444; font-size: 0.9em; margin: 0.3em 0; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
thead th { background: #f4f4f4; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ref { color: #555; font-style: italic; }
td.changed, td.chosen { font-weight: bold; }
td.code { font-family: ui-monospace, monospace; font-size: 0.92em; }
td.value { overflow-wrap: anywhere; }
.parameters { columns: 2 300px; column-gap: 20px; }
.parameters section { break-inside: avoid; }
.parameters h3 { margin-top: 0.6em; }
.parameters table { width: 100%; margin-top: 0; }
.figures { display: flex; flex-wrap: wrap; gap: 0 20px; align-items: flex-start; }
figure { margin: 0 0 1.4em; max-width: 100%; }
figure img { display: block; width: 100%; height: auto; }
figcaption { font-size: 0.88em; color: #444; margin-top: 0.3em; }
figcaption .file { color: #888; font-family: ui-monospace, monospace; font-size: 0.9em; margin-left: 0.3em; }
details > summary { cursor: pointer; color: #444; }
@media print { body { max-width: none; margin: 0; } figure, table { break-inside: avoid; } }
"""


def _html_table(header: list[str], rows: list[list], numeric_from: int = 1) -> str:
    """A table of escaped text; a cell is a string or ``(text, css classes)`` (``path``: may break after a
    ``/``); columns from ``numeric_from`` on are right-aligned numbers."""
    esc = html.escape

    def cell(j: int, value) -> str:
        text, extra = value if isinstance(value, tuple) else (value, "")
        classes = " ".join(c for c in ("num" if j >= numeric_from else "", extra) if c)
        shown = esc(text).replace("/", "/<wbr>") if "path" in extra.split() else esc(text)  # breaks after a /
        return f'<td class="{classes}">{shown}</td>' if classes else f"<td>{shown}</td>"

    head = "".join(f'<th class="num">{esc(h)}</th>' if 0 < j and j >= numeric_from else f"<th>{esc(h)}</th>"
                   for j, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell(j, c) for j, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _p(text: str, css: str = "") -> str:
    """A paragraph of escaped text."""
    return f'<p class="{css}">{html.escape(text)}</p>' if css else f"<p>{html.escape(text)}</p>"


def _label(name: Any) -> str:
    """A metric or record key in words: :func:`vtkit.plots.metric_label`, else with spaces for ``_`` and ``/``."""
    from vtkit.plots import metric_label

    label = metric_label(str(name))
    return label if label != str(name) else label.replace("_", " ").replace("/", " / ")


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else _scalar(value)


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _param_text(value: Any) -> str:
    """A parameter as the notebooks' parameters cell reads it, strings without quotes."""
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _is_default(name: str, value: Any, default: Any) -> bool:
    if name in PATH_PARAMETERS and value is not None and default is not None:
        return Path(str(value)).name == Path(str(default)).name
    return value == default


def _background_word(params: dict) -> str:
    return "background percentile" if params.get("background", "percentile") == "percentile" else "background value"


def _metrics_html(metrics: dict, params: dict) -> list[str]:
    """The val table (with the untrained reference row), why rows are identical, the table per level."""
    columns, rows = aligner_table(metrics)
    val = Path(str(params["val_annotations"])).name if params.get("val_annotations") else "val"
    videos = f" on {_count(metrics['videos'])} videos" if isinstance(metrics.get("videos"), int) else ""
    parts = [_p(f"Val split ({val}): {_count(metrics.get('queries', '?'))} queries (steps and substeps){videos}, "
                "scored once. Percent of queries; mIoU in percent.")]
    reference = metrics.get("untrained_dp")
    if isinstance(reference, dict):
        rows.append([("untrained model, dp (reference)", "ref"),
                     *((_percent(reference.get(m)), "ref") for m in columns)])
    if rows:
        parts.append(_html_table(["aligner", *columns], rows))
    aligners = metrics.get("aligners", {})
    dfs_limits = any(params.get(k) is not None for k in ("dfs_max_total", "dfs_max_gap", "dfs_max_skips"))
    if "dfs" in aligners and aligners["dfs"] == aligners.get("dp") and not dfs_limits:
        parts.append(_p("DFS and the DP are exact searches of the same objective, so their rows agree.", "note"))
    if metrics.get("dfs_over_budget_videos"):
        names = metrics.get("dfs_fallback_videos") or []
        listed = f" ({', '.join(str(n) for n in names[:20])}{', ...' if len(names) > 20 else ''})" if names else ""
        parts.append(_p(f"DFS went over its budget on {metrics['dfs_over_budget_videos']} of "
                        f"{metrics.get('videos', '?')} videos{listed}; there the DP answer (the same optimum) "
                        "stands in.", "note"))
    if "dropdtw" in aligners:
        parts.append(_p("Drop-DTW with contiguous steps solves the DP's objective (drop cost = minus the "
                        "background), so its row equals dp's.", "note"))
    by_level = metrics.get("by_level")
    if isinstance(by_level, dict) and all(isinstance(v, dict) for v in by_level.values()):
        level_rows = [[f"{aligner} / {level}", *(_percent(s.get(m)) for m in columns), _count(s.get("queries", ""))]
                      for aligner, levels in by_level.items() for level, s in levels.items() if isinstance(s, dict)]
        parts.append("<details open><summary>By level (percent)</summary>"
                     + _html_table(["aligner / level", *columns, "queries"], level_rows) + "</details>")
    duration = _duration_html(metrics.get("by_duration"))
    if duration:
        parts.append(duration)
    return parts


def _duration_html(by_duration: Any, metric: str = "R1@0.3") -> str:
    """R1@0.3 per aligner and level in each annotated-duration bucket, with the bucket's query count."""
    if not isinstance(by_duration, dict) or not all(isinstance(v, dict) for v in by_duration.values()):
        return ""
    buckets = [b for b in duration_buckets() if any(b in per for levels in by_duration.values()
                                                     for per in levels.values() if isinstance(per, dict))]
    rows = []
    for aligner, levels in by_duration.items():
        for level, per in levels.items():
            if isinstance(per, dict):
                rows.append([f"{aligner} / {level}", *(
                    f"{_percent(per[b].get(metric))} ({_count(per[b].get('queries'))})" if isinstance(per.get(b), dict)
                    else "" for b in buckets)])
    return (f"<details><summary>{metric} by annotated duration (percent; queries in brackets)</summary>"
            + _html_table(["aligner / level", *buckets], rows) + "</details>") if rows else ""


STEPS_ROW = "steps"   # the selection table's row of the steps' background (vtkit.train.choose_alignment)
_TRAINING_KEYS = ("metric", "best_metric", "best_epoch", "epochs", "stopped_early", "params", "start", "untrained", "trained",
                  "chosen_by", "choices", "selection_table", "seconds", "pairs_per_second")


def _selection_grid(table: Any) -> tuple[list[str], list[str], dict] | None:
    """``(substep modes, background values, {(mode, value): score})`` of a ``{"mode/value": score}`` table."""
    if not isinstance(table, dict) or not table:
        return None
    cells = {}
    for key, score in table.items():
        mode, sep, value = str(key).partition("/")
        if not sep or not isinstance(score, (int, float)):
            return None
        cells[mode, value] = score
    return list(dict.fromkeys(m for m, _ in cells)), list(dict.fromkeys(v for _, v in cells)), cells


def _choice_words(params: dict, choices: dict) -> dict[str, str]:
    """What each recorded choice is called; with a substeps' background, ``background_value`` is the steps'."""
    word = _background_word(params)
    if choices.get("substep_background_value") is None:
        return {"substep_mode": "substep mode", "background_value": word}
    return {"substep_mode": "substep mode", "background_value": f"steps' {word}",
            "substep_background_value": f"substeps' {word}"}


def chosen_and_fixed(training: dict, params: dict) -> tuple[list[str], list[str]]:
    """``(what the selection split chose, what the parameters set)`` as phrases, e.g. "the best epoch (3 of 8)"."""
    choices = training.get("choices") or {}
    grid = _selection_grid(training.get("selection_table"))
    modes, values, cells = grid if grid else ([], [], {})
    tried = {"substep_mode": {m for m in modes if m != STEPS_ROW},   # the distinct values of each choice
             "background_value": {v for m, v in cells if m == STEPS_ROW} if STEPS_ROW in modes else set(values),
             "substep_background_value": {v for m, v in cells if m != STEPS_ROW}}
    chosen, fixed = [f"the best epoch ({training.get('best_epoch')} of {training.get('epochs')})"], []
    for key, what in _choice_words(params, choices).items():
        value = choices.get(key)
        if value is not None:
            (chosen if len(tried[key]) > 1 else fixed).append(f"the {what} ({_scalar(value)})")
    return chosen, fixed


def _choices_html(training: dict, params: dict, metrics: dict) -> list[str]:
    """Which split chose what, and why the training curves' alignment number is not the headline's."""
    if not training.get("chosen_by"):
        return [_p("This run holds no training record (training.json): which split chose the epoch, the substep "
                   "mode and the background is not known.")]
    chosen, fixed = chosen_and_fixed(training, params)
    text = (f"The selection split, {training['chosen_by']}, chose {_join(chosen)}; val chose nothing and is "
            "scored once, at the end, with these choices."
            + (f" Set by the parameters, not chosen: {_join(fixed)}." if fixed else ""))
    metric = _label(training.get("metric"))
    aligners = metrics.get("aligners")
    dp = aligners.get("dp") if isinstance(aligners, dict) else None
    headline = dp.get("R1@0.3") if isinstance(dp, dict) else None
    curves = (f"The training curves (02 Training) and the tables below are on the selection split, over steps and "
              f"substeps: {metric} {_percent(training.get('best_metric'))} % at the best epoch. The headline metrics "
              "are the val split, scored once" + (f": dp R1@0.3 {_percent(headline)} %" if headline is not None else "")
              + ". Other videos, so other numbers.")
    return [_p(text), _p(curves)]


def _training_html(training: dict | None, params: dict, metrics: dict) -> list[str]:
    """Which split chose what, the training record, untrained vs trained and the selection table."""
    training = training or {}
    parts = _choices_html(training, params, metrics)
    rows = []
    if "metric" in training:
        rows.append(["selection metric", _label(training["metric"])])
    if "best_epoch" in training:
        rows.append(["best epoch", f"{training['best_epoch']} of {training.get('epochs', '?')}"
                     + (", stopped early" if training.get("stopped_early") else "")])
    if "best_metric" in training:
        rows.append([f"{_label(training.get('metric'))} at the best epoch (%)", _percent(training["best_metric"])])
    words = _choice_words(params, training.get("choices") or {})
    rows += [[f"chosen {words.get(k, _label(k))}", _scalar(v)] for k, v in (training.get("choices") or {}).items()
             if v is not None]
    counts = training.get("params") or {}
    if isinstance(counts, dict) and "trainable" in counts:
        rows.append(["trainable parameters", f"{_count(counts['trainable'])} of {_count(counts.get('total'))}"])
    if isinstance(training.get("seconds"), (int, float)):
        speed = training.get("pairs_per_second")
        rows.append(["training time", f"{training['seconds']:.1f} s"
                     + (f" ({speed:,.0f} pairs/s)" if isinstance(speed, (int, float)) else "")])
    rows += [[_label(k), _scalar(v)]
             for k, v in other_metrics({k: v for k, v in training.items() if k not in _TRAINING_KEYS})]
    if rows:
        parts.append("<h3>Training</h3>" + _html_table(["training", "value"], rows, numeric_from=2))
    before, after = training.get("untrained"), training.get("trained")
    if isinstance(before, dict) and isinstance(after, dict) and (before or after):
        parts.append(_html_table(["selection split (percent)", f"{_start_name(training)} (epoch 0)",
                                  f"trained (epoch {training.get('best_epoch', '?')})"],
                                 [[_label(n), _percent(before.get(n)), _percent(after.get(n))]
                                  for n in dict.fromkeys([*before, *after])]))
    grid = _selection_grid(training.get("selection_table"))
    if grid:
        modes, values, cells = grid
        choices = training.get("choices") or {}
        word = _background_word(params)
        sub_value = choices.get("substep_background_value", choices.get("background_value"))

        def picked(mode, v):
            if mode == STEPS_ROW:
                return _as_float(v) == _as_float(choices.get("background_value"))
            return mode == choices.get("substep_mode") and _as_float(v) == _as_float(sub_value)

        rows = [[mode, *((_percent(cells[mode, v]), "chosen" if picked(mode, v) else "") if (mode, v) in cells
                         else "–" for v in values)] for mode in modes]
        if STEPS_ROW in modes:
            text = (f"R1@0.3 on the selection split (DP, percent). Row {STEPS_ROW}: the step queries at each "
                    f"steps' {word}. Each substep mode's row: all queries at each substeps' {word}, with "
                    "the steps' chosen one (in the joint mode it also places the steps). The chosen cells in bold.")
        else:   # runs that chose one background for both levels
            text = (f"R1@0.3 on the selection split (DP, steps and substeps, percent) per substep mode and "
                    f"{word}; the chosen pair in bold.")
        parts.append("<h3>Selection</h3>" + _p(text)
                     + _html_table([f"{'steps / substep mode' if STEPS_ROW in modes else 'substep mode'} \\ "
                                    f"{word.split()[-1]}", *values], rows))
    return parts


_RUN_KEYS = ("aligners", "by_level", "by_duration", "untrained_dp", "training", "queries", "videos", "dfs_over_budget_videos",
             "dfs_fallback_videos")


def _run_html(metrics: dict) -> list[str]:
    """Queries, videos, DFS fallbacks and every other scalar of metrics.json."""
    rows = [[label, _count(metrics[key])] for key, label in
            (("queries", "val queries"), ("videos", "val videos"),
             ("dfs_over_budget_videos", "videos where DFS went over its budget (the DP stands in)")) if key in metrics]
    rest = {k: v for k, v in metrics.items() if k not in _RUN_KEYS}
    rows += [[_label(k), _scalar(v)] for k, v in other_metrics(rest)]
    return ["<h3>Run</h3>" + _html_table(["run", "value"], rows, numeric_from=2)] if rows else []


def _parameters_html(params: dict) -> str:
    """Every parameter by group, in Config's order; values that differ from the defaults in bold."""
    defaults = Config().to_dict()
    groups: dict[str, list] = {}
    group = "other"
    for name in [*(n for n in defaults if n in params), *(n for n in params if n not in defaults)]:
        group = PARAMETER_GROUPS.get(name, group) if name in defaults else "other"
        value, css = _param_text(params[name]), "value path" if name in PATH_PARAMETERS else "value"
        if name in defaults and not _is_default(name, params[name], defaults[name]):
            value, css = f"{value} (default {_param_text(defaults[name])})", css + " changed"
        groups.setdefault(group, []).append([(name, "code"), (value, css)])
    return (_p("Values that differ from the defaults of vtkit.config.Config are in bold, with the default; a path "
               "counts as the default when its file name is the default's.", "note")
            + '<div class="parameters">'
            + "".join(f"<section><h3>{html.escape(g)}</h3>{_html_table(['name', 'value'], rows, numeric_from=2)}"
                      "</section>" for g, rows in groups.items())
            + "</div>")


def _png_size(data: bytes) -> tuple[int, int, float] | None:
    """``(width, height, dots per inch)`` of PNG bytes (dpi from the pHYs chunk, else plots.DPI), or None."""
    from vtkit.plots import DPI

    if len(data) < 24 or data[:8] != PNG_MAGIC or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    pos, dpi = 8, float(DPI)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"pHYs" and length == 9 and pos + 17 <= len(data):
            per_metre, _, unit = struct.unpack(">IIB", data[pos + 8:pos + 17])
            if unit == 1 and per_metre:
                dpi = per_metre * 0.0254
            break
        if kind == b"IDAT":
            break
        pos += 12 + length
    return (width, height, dpi) if width and height else None


def _caption(stem: str) -> tuple[int, int, str]:
    """``(position in FIGURE_CAPTIONS, number, caption)``; a figure outside it: its file name, last."""
    for position, (key, pattern) in enumerate(_CAPTION_PATTERNS):
        match = pattern.fullmatch(stem)
        if match:
            number = int(match.group(1)) if match.groups() else 0
            return position, number, FIGURE_CAPTIONS[key].format(n=number + 1)
    return len(_CAPTION_PATTERNS), 0, f"{stem}.png"


def _figure_html(path: Path, caption: str, number: int) -> str:
    """One embedded figure at its printed size, 100 CSS px per inch (7 in: 700 px, 3.4 in: 340 px), captioned
    and named by its file."""
    data = path.read_bytes()
    size, style, dims = _png_size(data), "", ""
    if size:
        width, height, dpi = size
        w, h = round(width * 100 / dpi), round(height * 100 / dpi)
        style, dims = f' style="width: {w}px"', f' width="{w}" height="{h}"'
    file = f' <span class="file">{html.escape(path.name)}</span>' if caption != path.name else ""
    return (f'<figure{style}><img src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}"{dims} '
            f'alt="{html.escape(caption)}"><figcaption><b>Figure {number}.</b> {html.escape(caption)}{file}'
            "</figcaption></figure>")


def _figure_sections(figures: list[Path], record: dict) -> list[tuple[str, list[tuple[Path, str]]]]:
    """``[(heading, [(figure, caption)])]``: the headline figure first (heading ""), then per notebook in
    FIGURE_CAPTIONS' order (others of a notebook at its end), then the figures of no notebook."""
    stems = {Path(str(n.get("name"))).stem.split("_", 1)[0]: Path(str(n.get("name"))).stem
             for n in record.get("notebooks") or [] if isinstance(n, dict)}

    def title(prefix: str) -> str:  # a notebook outside NOTEBOOK_TITLES: "05_ablation" -> "05 Ablation"
        if prefix in NOTEBOOK_TITLES or prefix not in stems:
            return NOTEBOOK_TITLES.get(prefix, f"Notebook {prefix}")
        return f"{prefix} {stems[prefix].split('_', 1)[-1].replace('_', ' ').capitalize()}"

    sections: dict[str, list] = {}
    for fig in sorted(figures, key=lambda f: (_caption(f.stem)[:2], f.stem)):
        prefix = re.match(r"(\d\d)_", fig.stem)
        key = "" if fig.stem == HEADLINE_FIGURE else prefix.group(1) if prefix else OTHER_FIGURES
        sections.setdefault(key, []).append((fig, _caption(fig.stem)[2]))
    order = sorted(sections, key=lambda k: (k != "", k == OTHER_FIGURES, k))
    return [(k if k in ("", OTHER_FIGURES) else title(k), sections[k]) for k in order]


def _meta_html(run_dir: Path, record: dict) -> str:
    """Folder, status and times, git commit and versions, one line each."""
    git, versions = record.get("git") or {}, record.get("versions") or {}
    times = [f"{k} {record[k]}" for k in ("status", "started", "finished") if record.get(k) is not None]
    lines = [f"Run folder {run_dir}"] + ([", ".join(times)] if times else [])
    if git:
        lines.append(f"git commit {git.get('commit')}" + (" (modified)" if git.get("dirty") else ""))
    if versions:
        lines.append(", ".join(f"{k} {versions[k]}" for k in ("vtkit", "torch", "python", "machine") if k in versions))
    return '<p class="meta">' + "<br>".join(html.escape(line) for line in lines) + "</p>"


def write_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html``, one self-contained page: the headline figure, the val metrics, which
    split chose what, the figures by notebook (embedded), the parameters and the notebooks' times."""
    run_dir = Path(run_dir)
    record = read_json(run_dir / "run.json", "run record") if (run_dir / "run.json").exists() else {}
    params = record.get("parameters") or {}
    esc = html.escape
    parts = [f"<h1>vtkit run: {esc(run_dir.name)}</h1>", _meta_html(run_dir, record)]

    sections = _figure_sections(sorted((run_dir / "figures").glob("*.png")), record)
    number = 0
    if sections and sections[0][0] == "":
        for fig, caption in sections.pop(0)[1]:
            number += 1
            parts.append(_figure_html(fig, caption, number))

    parts.append("<h2>Metrics</h2>")
    metrics: dict = {}
    if (run_dir / METRICS_FILE).exists():
        try:
            metrics = read_metrics(run_dir / METRICS_FILE)
            parts += _metrics_html(metrics, params)
        except VtkitError as err:
            metrics = {}
            parts.append(_p(f"metrics.json could not be read: {err}"))
    else:
        parts.append(_p("No metrics.json in the run folder."))

    parts.append("<h2>Which split chose what</h2>")
    try:
        training = read_training_summary(run_dir) or {}
    except VtkitError:
        training = {}
    if isinstance(metrics.get("training"), dict):
        training = {**training, **metrics["training"]}
    parts += _training_html(training, params, metrics)
    parts += _run_html(metrics)

    parts.append("<h2>Figures</h2>")
    for heading, figures in sections:
        parts.append(f'<h3>{esc(heading)}</h3><div class="figures">')
        for fig, caption in figures:
            number += 1
            parts.append(_figure_html(fig, caption, number))
        parts.append("</div>")
    if not number:
        parts.append(_p("No figures."))

    parts.append("<h2>Parameters</h2>")
    parts.append(_parameters_html(params) if params else _p("No parameters recorded."))

    parts.append("<h2>Notebooks</h2>")
    rows = [[str(e.get("name")), str(e.get("status")), "" if e.get("seconds") is None else f"{e['seconds']:.1f}"]
            for e in record.get("notebooks") or [] if isinstance(e, dict)]
    parts.append(_html_table(["notebook", "status", "seconds"], rows, numeric_from=2))

    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>vtkit run: {esc(run_dir.name)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    return write_text(run_dir / "report.html", page)
