"""Alignment quality at GoalStep scale on simulated features: chance, clean-feature oracle, linear probe, the kit.

The 134 videos of the real val annotations (``--goalstep DIR``; without them the benchmark is
skipped) with simulated features (``goalstep_sim``), split by video (80 train / 54 test,
stratified by length). Per level (steps, substeps, all) it prints R1@0.3, R1@0.5 and mIoU of:

- chance: 5 random windows per query, durations drawn from the train queries of its level;
- oracle: cosine of the noise-free chunk meanings with the queries' text embeddings, then the
  kit's aligner (its default settings, ``query_norm`` included; ``substep_mode="best"`` becomes the
  kit's default mode, as nothing is chosen on the test videos);
- noisy oracle: the same with the noisy latent the hidden transform maps to the features (the
  meaning plus the video's offset and its temporal noise), so the oracle less the noisy oracle is
  what the noise alone costs, and the noisy oracle less the kit roughly what learning the transform costs;
- probe: ridge regression from features to the text-embedding space, fit on the train videos'
  chunks, then the same aligner;
- kit: ``vtkit run`` with defaults on the simulated data (its ``metrics.json``), ``--repeat``
  times with seeds 0, 1, ...; ``-p name=value`` goes to every run (the aligner parameters
  among them also apply to the oracle and probe).

Below the table, R1@0.3 per level by annotated duration and by whether the query's text recurs in
its video (:func:`vtkit.metrics.text_recurs`), for the oracles, the probe and the kit.

Oracle, probe and chance are scored by :func:`vtkit.metrics.score` on predictions written and
read back in the challenge format. ``--max-videos 20 -p epochs=2`` is a quick mode; ``--show
RESULT.json`` prints a saved result's table again (for the README, through ``bench/publish.py``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scale  # noqa: E402
import goalstep_sim as sim  # noqa: E402

from vtkit.io import read_json, write_json  # noqa: E402

LEVELS = (("steps", "step"), ("substeps", "substep"), ("all", None))
SHOWN = ("R1@0.3", "R1@0.5", "mIoU")
RIDGE = 10.0


# --------------------------------------------------------------------------- the kit's aligner, any version


class KitAligner:
    """The imported kit's query windows with the alignment fields of a Config.

    ``substep_mode="best"`` takes the kit's default mode: oracle and probe have no selection split,
    and the test videos choose nothing.
    """

    def __init__(self, cfg):
        fields = dict(aligner=cfg.aligner, background=cfg.background, background_value=cfg.background_value,
                      min_len=cfg.min_len, max_len=cfg.max_len, skip_penalty=cfg.skip_penalty, top_k=cfg.top_k)
        self.cfg = cfg
        try:
            from vtkit.align import AlignSettings
            from vtkit.predict import predict_queries, resolve_substep_mode
        except ImportError:  # the layout before vtkit.predict: keyword settings
            from vtkit.align import DEFAULT_SUBSTEP_MODE, predict_queries

            resolve_substep_mode = lambda mode: DEFAULT_SUBSTEP_MODE if mode == "best" else mode  # noqa: E731

            self._windows = lambda v, S, U, offset, mode: predict_queries(
                v, S, U, substep_mode=mode, chunk_offset=offset, chunk_seconds=cfg.chunk_seconds, **fields)
        else:
            settings = AlignSettings.from_config(cfg)
            self._windows = lambda v, S, U, offset, mode: predict_queries(
                v, S, U, settings, substep_mode=mode, chunk_seconds=cfg.chunk_seconds, chunk_offset=offset,
                dfs_fallback=True)[0]
        self.mode = resolve_substep_mode(cfg.substep_mode)

    def predictions(self, videos, sims: dict) -> dict:
        """``{query key: windows}`` from ``sims[uid] = (S_steps, S_substeps, first chunk)``."""
        out = {}
        for v in videos:
            S, U, first = sims[v.video_uid]
            for idx, wins in self._windows(v, S, U, first, self.mode).items():
                out[(v.video_uid, v.annotation_uid, idx)] = wins
        return out


def goal_range(video, n: int, chunk_seconds: float) -> tuple[int, int]:
    try:
        from vtkit.timeline import goal_chunk_range
    except ImportError:
        from vtkit.inference import goal_chunk_range
    return goal_chunk_range((video.start_time, video.end_time), n, chunk_seconds)


# --------------------------------------------------------------------------- the references


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return b @ a.T


def similarity_sets(videos, chunk_vectors: dict, text: sim.MiniLMEncoder, chunk_seconds: float) -> dict:
    """``{uid: (S_steps, S_substeps, first)}``: cosine of chunk vectors (text space) with query embeddings."""
    sims = {}
    for v in videos:
        X = chunk_vectors[v.video_uid]
        first, last = goal_range(v, len(X), chunk_seconds)
        S = _cosine(X[first: last + 1], text([q.description for q in v.steps + v.substeps]))
        sims[v.video_uid] = (S[: len(v.steps)], S[len(v.steps):] if v.substeps else None, first)
    return sims


def chunk_targets(video, n: int, text: sim.MiniLMEncoder, chunk_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """``(mask, Y)``: chunks covered by a query, and the mean text embedding of the queries covering each."""
    Y, count = np.zeros((n, sim.TEXT_DIM)), np.zeros(n)
    embeddings = text([q.description for q in video.queries])
    for q, e in zip(video.queries, embeddings):
        a, b = q.chunk_span(chunk_seconds)
        a, b = min(a, n - 1), min(b, n - 1)
        Y[a: b + 1] += e
        count[a: b + 1] += 1
    mask = count > 0
    Y[mask] /= count[mask, None]
    return mask, Y


class RidgeProbe:
    """Standardised features -> text space, ``(X'X + lambda I)^-1 X'Y``, fit on covered train chunks."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, ridge: float = RIDGE):
        self.mean, self.std = X.mean(0), X.std(0) + 1e-6
        Z = np.hstack([(X - self.mean) / self.std, np.ones((len(X), 1))])
        self.W = np.linalg.solve(Z.T @ Z + ridge * np.eye(Z.shape[1]), Z.T @ Y)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return np.hstack([(X - self.mean) / self.std, np.ones((len(X), 1))]) @ self.W


def chance_predictions(videos, train_videos, seed: int, top_k: int = 5) -> dict:
    """Random windows inside each goal, durations drawn from the train split's queries of the same level."""
    rng = np.random.default_rng([seed, 3])
    durations = {lvl: np.array([q.duration for v in train_videos for q in v.queries if q.level == lvl])
                 for lvl in ("step", "substep")}
    out = {}
    for v in videos:
        goal = v.end_time - v.start_time
        for q in v.queries:
            d = np.minimum(rng.choice(durations[q.level], top_k), goal)
            starts = v.start_time + rng.random(top_k) * (goal - d)
            out[q.key] = [(float(s), float(s + e)) for s, e in zip(starts, d)]
    return out


def scored(predictions: dict, annotations, path: Path) -> dict:
    """Write ``predictions`` as a challenge file, read it back and score it as ``vtkit evaluate`` does."""
    from vtkit.metrics import score
    from vtkit.submission import read_predictions, write_submission

    write_submission(path, predictions)
    return score(read_predictions(path, annotations), annotations.queries())


def levels(result: dict) -> dict:
    """``{level: {metric: value}}`` for steps, substeps and all from a :func:`vtkit.metrics.score` result."""
    by = result.get("by_level", {})
    return {name: {m: (by.get(key, {}) if key else result).get(m) for m in SHOWN} for name, key in LEVELS}


BREAKDOWNS = {"by_duration": "annotated duration", "by_recurrence": "whether the text recurs in its video"}


def breakdowns(result: dict) -> dict:
    """``{breakdown: {level: {group: [R1@0.3, queries]}}}`` for each of :data:`BREAKDOWNS` in a
    :func:`vtkit.metrics.score` result (or a ``metrics.json`` aligner's), those it has."""
    return {key: {level: {g: [r["R1@0.3"], r["queries"]] for g, r in groups.items()}
                  for level, groups in result[key].items()}
            for key in BREAKDOWNS if result.get(key)}


def references(data: sim.SimData, cfg, text: sim.MiniLMEncoder, work: Path, seed: int, log=print) -> tuple[dict, dict]:
    """``(rows, breakdowns)`` of chance, the two oracles and the probe (see :func:`levels`, :func:`breakdowns`)."""
    from vtkit.annotations import load_annotations
    from vtkit.features import load_video_features

    train, test = load_annotations(data.train), load_annotations(data.test)
    simulator = sim.FeatureSimulator(sim.SimConfig(seed=seed), text)
    records = {r["video_uid"]: r for r in read_json(data.train)["videos"] + read_json(data.test)["videos"]}
    cs = cfg.chunk_seconds
    t0 = time.perf_counter()
    text(sorted({q.description for q in train.queries() + test.queries()}))
    log(f"query embeddings: {time.perf_counter() - t0:.1f} s")
    def features(uid: str) -> np.ndarray:  # as the kit reads them
        return np.asarray(load_video_features(data.ensure_packed(), uid), dtype=np.float64)

    X, Y = [], []
    for v in train.videos:
        feats = features(v.video_uid)
        mask, target = chunk_targets(v, len(feats), text, cs)
        X.append(feats[mask])
        Y.append(target[mask])
    probe = RidgeProbe(np.concatenate(X), np.concatenate(Y))
    meaning, latent, probed = {}, {}, {}
    for v in test.videos:
        simulated = simulator.video(records[v.video_uid])
        meaning[v.video_uid], latent[v.video_uid] = simulated.meaning, simulated.latent
        probed[v.video_uid] = probe(features(v.video_uid))
    aligner = KitAligner(cfg)
    out = {"chance": scored(chance_predictions(test.videos, train.videos, seed), test, work / "chance.json")}
    for name, vectors in (("oracle", meaning), ("noisy oracle", latent), ("probe", probed)):
        t0 = time.perf_counter()
        preds = aligner.predictions(test.videos, similarity_sets(test.videos, vectors, text, cs))
        out[name] = scored(preds, test, work / f"{name}.json")
        log(f"{name}: aligned {len(preds)} queries in {time.perf_counter() - t0:.1f} s")
    return {name: levels(r) for name, r in out.items()}, {name: breakdowns(r) for name, r in out.items() if name != "chance"}


# --------------------------------------------------------------------------- the kit end to end


def kit_levels(metrics: dict) -> dict:
    dp = metrics.get("by_level", {}).get("dp", {})
    overall = metrics.get("aligners", {}).get("dp", {})
    return {name: {m: (dp.get(key, {}) if key else overall).get(m) for m in SHOWN} for name, key in LEVELS}


def mean_breakdowns(runs: list[dict]) -> dict:
    """The kit runs' :func:`breakdowns` averaged (every run scores the same queries, so the counts agree)."""
    if not runs:
        return {}
    return {key: {level: {g: [statistics.fmean(r[key][level][g][0] for r in runs), count] for g, (_, count) in groups.items()}
                  for level, groups in by.items()}
            for key, by in runs[0].items() if all(key in r for r in runs)}


def print_breakdowns(by_method: dict[str, dict]) -> None:
    """For each of :data:`BREAKDOWNS`: R1@0.3 per level and group for each method, with the group's query count.

    ``by_method[method]`` is :func:`breakdowns`' result; older saved results hold the duration buckets
    alone (``{level: {bucket: ..}}``)."""
    from vtkit.metrics import RECURRENCE, duration_buckets

    by_method = {name: (by if set(by) <= set(BREAKDOWNS) else {"by_duration": by}) for name, by in by_method.items()}
    order = {"by_duration": duration_buckets(), "by_recurrence": list(RECURRENCE)}
    for key, title in BREAKDOWNS.items():
        tables = {name: by[key] for name, by in by_method.items() if by.get(key)}
        groups = [g for g in order[key] if any(g in per for levels_ in tables.values() for per in levels_.values())]
        if not groups:
            continue
        print(f"\nR1@0.3 by {title} (percent; queries in brackets)")
        print(f"{'':<26}" + "".join(f"{g:>15}" for g in groups))
        for name, levels_ in tables.items():
            for level, per in levels_.items():
                cells = [f"{100 * per[g][0]:.1f} ({per[g][1]})" if g in per else "-" for g in groups]
                print(f"{name + ' / ' + level:<26}" + "".join(f"{c:>15}" for c in cells))


def mean_levels(runs: list[dict]) -> dict:
    return {lvl: {m: statistics.fmean(r[lvl][m] for r in runs) for m in SHOWN} for lvl, _ in LEVELS}


def print_table(rows: dict[str, dict], spread: dict[str, dict] | None = None) -> None:
    """One row per method, one block of :data:`SHOWN` per level; ``±`` the standard deviation over runs."""
    width = 10 if not spread else 15
    print(f"{'':<16}" + "".join(f"{lvl:<{width * len(SHOWN)}}" for lvl, _ in LEVELS))
    print(f"{'':<16}" + "".join(f"{m:>{width}}" for _ in LEVELS for m in SHOWN))
    print("-" * (16 + width * len(SHOWN) * len(LEVELS)))
    for name, r in rows.items():
        cells = []
        for lvl, _ in LEVELS:
            for m in SHOWN:
                value = r[lvl][m]
                cell = "-" if value is None else f"{100 * value:.2f}"
                if spread and name in spread and value is not None:
                    cell += f"±{100 * spread[name][lvl][m]:.1f}"
                cells.append(f"{cell:>{width}}")
        print(f"{name:<16}" + "".join(cells))
    print("percent; a hit needs IoU strictly above the threshold")


def show_saved(result: dict) -> None:
    """The table a ``--save`` result was printed with: its data, rows, spread over seeds, parameters and time."""
    params = " ".join(f"-p {p}" for p in result.get("params") or []) or "defaults"
    git = (result.get("kit") or {}).get("git") or {}
    commit = f"{str(git.get('commit'))[:7]}{' (dirty)' if git.get('dirty') else ''}" if git.get("commit") else "-"
    with_kit = any(k.startswith("kit (") for k in result["rows"])
    ran = (f"kit: {params}, {result.get('repeat', 1)} seed(s), commit {commit}" if with_kit
           else f"references only (--no-kit): {params}")
    print(f"{result['source']}: {result['videos']} videos, {result['chunks']} chunks, layout {result['layout']}; "
          f"{ran}")
    print_table(result["rows"], result.get("spread") or None)
    print_breakdowns(result.get("breakdowns") or result.get("by_duration") or {})
    timing = result.get("timing") or {}
    print(f"time: {timing.get('total_seconds')} s in all, kit runs {timing.get('kit_seconds')} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench_scale.common_arguments(parser)
    parser.add_argument("--repeat", type=int, default=1, help="kit runs, with seeds 0..n-1 (default 1)")
    parser.add_argument("--no-kit", action="store_true", help="only chance, the oracles and the probe")
    parser.add_argument("--show", type=Path, metavar="RESULT.json", help="print the table of a saved result and stop")
    args = parser.parse_args(argv)
    if args.show:
        show_saved(read_json(args.show, "benchmark result"))
        return 0
    path = args.goalstep / "goalstep_valid.json"
    if not path.is_file():
        print(f"bench_quality: skipped, {path} not found (real GoalStep annotations are needed)")
        return 0
    from vtkit.config import Config, parse_overrides

    cfg = Config.from_dict(parse_overrides(args.param), source="-p")
    work = args.work.resolve()
    load_before = bench_scale.load_average()
    t_start = time.perf_counter()
    records, source = bench_scale.goalstep_records(args.goalstep, args.max_videos, args.seed)
    data = bench_scale.simulated_data(records, work, args.seed)
    layout = args.layout or "packed"
    data.ensure_packed()
    text = sim.MiniLMEncoder(work / "minilm.npz")
    run_dir = work / "quality"
    run_dir.mkdir(parents=True, exist_ok=True)
    rows, by_method = references(data, cfg, text, run_dir, args.seed)
    timing = {"references_seconds": round(time.perf_counter() - t_start, 1), "kit_seconds": []}
    kit_runs, kit_breakdowns, kit_info = [], [], {}
    if not args.no_kit:
        for i in range(args.repeat):
            params = bench_scale.kit_params(args.repo, data, layout, args.param, work / "quality-caches")
            if args.repeat > 1:
                params["seed"] = int(params.get("seed", 0)) + i
            out = run_dir / f"kit-{i}"
            run = bench_scale.run_kit(args.repo, out, params)
            if run.returncode != 0:
                print(f"vtkit run failed (exit {run.returncode}):\n{run.output_tail}", file=sys.stderr)
                return 1
            metrics = read_json(out / "metrics.json", "metrics")
            kit_runs.append(kit_levels(metrics))
            kit_breakdowns.append(breakdowns({key: (metrics.get(key) or {}).get("dp") for key in BREAKDOWNS}))
            timing["kit_seconds"].append(run.seconds)
            record = read_json(out / "run.json", "run record")
            kit_info = {"vtkit_file": run.vtkit_file, "notebooks_dir": record.get("notebooks_dir"),
                        "git": record.get("git"), "untrained_dp": metrics.get("untrained_dp"),
                        "notebooks": {nb["name"]: nb.get("seconds") for nb in record.get("notebooks", [])}}
    spread = {}
    if kit_runs:
        rows["kit (dp)"] = mean_levels(kit_runs)
        if all(kit_breakdowns):
            by_method["kit (dp)"] = mean_breakdowns(kit_breakdowns)
        if len(kit_runs) > 1:
            spread["kit (dp)"] = {lvl: {m: statistics.stdev(r[lvl][m] for r in kit_runs) for m in SHOWN}
                                  for lvl, _ in LEVELS}
        untrained = kit_info.get("untrained_dp") or {}
        rows["kit untrained"] = {lvl: {m: (untrained.get(m) if lvl == "all" else None) for m in SHOWN}
                                 for lvl, _ in LEVELS}
    timing["total_seconds"] = round(time.perf_counter() - t_start, 1)
    print(f"\n{source}: {data.videos} videos ({len(read_json(data.train)['videos'])} train / "
          f"{len(read_json(data.test)['videos'])} test), {data.chunks_total} chunks, layout {layout}")
    print_table(rows, spread)
    print_breakdowns(by_method)
    print(f"time: {timing['total_seconds']} s in all, kit runs {timing['kit_seconds']} s; load average "
          f"{load_before} -> {bench_scale.load_average()}")
    if args.save:
        write_json(args.save, {"bench": "quality", "format": 1, "source": source, "layout": layout,
                               "videos": data.videos, "chunks": data.chunks_total, "params": args.param,
                               "repeat": args.repeat, "rows": rows, "spread": spread, "kit_runs": kit_runs,
                               "breakdowns": by_method,
                               "kit": kit_info, "timing": timing,
                               "load": {"before": load_before, "after": bench_scale.load_average()}})
        print(f"saved {args.save}")
    return 0


if __name__ == "__main__":
    from script import run

    run("bench_quality", main)
