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
import platform
from pathlib import Path
from typing import Any, Mapping

from vtkit.errors import VtkitError
from vtkit.io import atomic_path, read_json, write_json, write_text
from vtkit.metrics import METRIC_NAMES

TRAINING_FILE = "training.json"
METRICS_FILE = "metrics.json"


# --------------------------------------------------------------------------- records


def training_summary(result, untrained: Mapping[str, float], trained: Mapping[str, float]) -> dict:
    """The ``training.json`` record of a :class:`vtkit.train.TrainResult`."""
    params = {"trainable": result.trainable_params, "total": result.total_params}
    return {"metric": result.metric, "best_metric": result.best_metric, "best_epoch": result.best_epoch,
            "epochs": result.epochs_run, "stopped_early": result.stopped_early, "seconds": round(result.seconds, 2),
            "params": params, "pairs_per_second": round(result.pairs_per_second, 1),
            "untrained": dict(untrained), "trained": dict(trained),
            "chosen_by": result.chosen_by, "choices": dict(result.choices), "selection_table": dict(result.selection_table)}


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
    "untrained_dp": ..., "training": ..., **extra}`` from :func:`vtkit.metrics.score` results (fractions)."""
    out = {"aligners": {a: {m: s[m] for m in METRIC_NAMES} for a, s in scores.items()}, "queries": queries, **extra,
           "by_level": {a: {level: {m: g[m] for m in (*METRIC_NAMES, "queries")} for level, g in s["by_level"].items()}
                        for a, s in scores.items() if "by_level" in s}}
    if reference is not None:
        out["untrained_dp"] = {m: reference[m] for m in METRIC_NAMES}
    if training is not None:  # results only: timings stay in training.json, so reruns give identical files
        out["training"] = {k: v for k, v in training.items() if k not in ("seconds", "pairs_per_second")}
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
        lines.append("Untrained model with the DP aligner (reference): "
                     + ", ".join(f"{m} {100 * u[m]:.2f}" for m in METRIC_NAMES if m in u) + ".")
    if training.get("chosen_by"):
        choices = training.get("choices") or {}
        lines.append(f"Chosen on {training['chosen_by']}, never on val: the best epoch ({training.get('best_epoch')}), "
                     f"the substep mode ({choices.get('substep_mode')}) and the background percentile "
                     f"({choices.get('background_value')}); val is scored once, at the end.")
    if training.get("untrained") and training.get("trained"):
        before, after = training["untrained"], training["trained"]
        lines.append("On the selection split, training lifts text-to-video R@1 from "
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


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; text-align: center; }
"""


def _html_table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="num">{esc(c)}</td>' if j >= numeric_from else f"<td>{esc(c)}</td>"
                                    for j, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html``: parameters, metrics, notebook times and every figure, embedded."""
    run_dir = Path(run_dir)
    record = read_json(run_dir / "run.json", "run record")
    esc = html.escape
    parts = [f"<h1>vtkit run: {esc(run_dir.name)}</h1>",
             f"<p>{esc(str(run_dir))}<br>status: {esc(str(record.get('status')))}, "
             f"started {esc(str(record.get('started')))}, finished {esc(str(record.get('finished')))}</p>"]
    git = record.get("git")
    if git:
        parts.append(f"<p>git commit {esc(str(git.get('commit')))}{' (modified)' if git.get('dirty') else ''}</p>")

    params = record.get("parameters") or {}
    parts.append("<details><summary>Parameters</summary>"
                 + _html_table(["name", "value"], [[k, json.dumps(v)] for k, v in params.items()], numeric_from=2)
                 + "</details>")

    parts.append("<h2>Metrics</h2>")
    metrics_path = run_dir / METRICS_FILE
    if metrics_path.exists():
        metrics = read_metrics(metrics_path)
        columns, rows = aligner_table(metrics)
        if rows:
            parts.append("<p>Percent of queries.</p>" + _html_table(["aligner", *columns], rows))
        by_level = metrics.get("by_level")
        if isinstance(by_level, dict) and all(isinstance(v, dict) for v in by_level.values()):
            level_rows = [[f"{aligner} / {level}", *(_percent(s.get(m)) for m in columns), str(s.get("queries", ""))]
                          for aligner, levels in by_level.items() for level, s in levels.items()
                          if isinstance(s, dict)]
            parts.append("<details><summary>By level (percent)</summary>"
                         + _html_table(["aligner / level", *columns, "queries"], level_rows) + "</details>")
        others = other_metrics({k: v for k, v in metrics.items() if k != "by_level"})
        if others:
            parts.append("<details open><summary>Other figures of the run</summary>"
                         + _html_table(["name", "value"], [[k, _scalar(v)] for k, v in others]) + "</details>")
    else:
        parts.append("<p>No metrics.json in the run folder.</p>")

    parts.append("<h2>Notebooks</h2>")
    rows = [[str(e.get("name")), str(e.get("status")), "" if e.get("seconds") is None else f"{e['seconds']:.1f}"]
            for e in record.get("notebooks", [])]
    parts.append(_html_table(["notebook", "status", "seconds"], rows, numeric_from=2))

    figures = sorted((run_dir / "figures").glob("*.png"))
    parts.append("<h2>Figures</h2>")
    for fig in figures:
        data = base64.b64encode(fig.read_bytes()).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(fig.name)}">'
                     f"<figcaption>{esc(fig.name)}</figcaption></figure>")
    if not figures:
        parts.append("<p>No figures.</p>")

    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>vtkit run: {esc(run_dir.name)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    return write_text(run_dir / "report.html", page)
