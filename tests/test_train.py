"""Training loop: loss, history, checkpoints, schedules, early stopping, determinism, quality."""
import csv
import io
import json
import math
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from vtkit.config import Config
from vtkit.errors import VtkitError
from vtkit.model import count_parameters
from vtkit.checkpoint import load_checkpoint, read_checkpoint
from vtkit.train import HISTORY_COLUMNS, epoch_line, interactive_output, lr_factor, make_scheduler, train


def tiny_config(samples, out, **changes) -> Config:
    base = dict(video_root=str(samples / "videos"), train_annotations=str(samples / "goalstep_train.json"),
                val_annotations=str(samples / "goalstep_val.json"), out_dir=str(out),
                text_cache_dir=str(samples.parent / "text_cache"), feature_cache_dir=str(samples.parent / "feature_cache"), batch_size=32, epochs=3, device="cpu")
    return Config.from_dict({**base, **changes})


@pytest.fixture(scope="module")
def run(tiny_samples, tmp_path_factory):
    cfg = tiny_config(tiny_samples, tmp_path_factory.mktemp("run"), early_stop_patience=0)
    return cfg, train(cfg, progress=False)


def without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_loss_decreases_and_every_epoch_is_scored_on_the_selection_split(run):
    """On one tiny held-out video the start (a ridge probe) may already be as good as any epoch, so held-out
    gains are judged by bench/bench_quality.py; here the loss falls and every epoch is scored."""
    cfg, result = run
    h = result.history
    assert [r["epoch"] for r in h] == [0, 1, 2, 3] and result.epochs_run == 3 and not result.stopped_early
    assert math.isnan(h[0]["train_loss"])               # epoch 0: the start, evaluated only
    assert h[3]["train_loss"] < h[1]["train_loss"]
    for key in ("heldout_R1@0.3", "heldout_step_R1@0.3", "heldout_substep_R1@0.3", "heldout_t2v_R1", "heldout_loss"):
        assert all(math.isfinite(r[key]) for r in h), key
    assert all(0.0 <= r["heldout_R1@0.3"] <= 1.0 for r in h)
    assert result.best_metric == max(r["heldout_R1@0.3"] for r in h)
    assert result.pairs_per_second > 0


def test_history_csv(run):
    cfg, result = run
    with open(result.history_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == HISTORY_COLUMNS
    assert len(rows) == len(result.history)
    assert rows[0]["train_loss"] == ""                   # NaN is written as an empty cell
    for row, ref in zip(rows, result.history):
        assert int(row["epoch"]) == ref["epoch"] and float(row["heldout_loss"]) == ref["heldout_loss"]


def test_cosine_lr_in_history_matches_schedule(run):
    cfg, result = run
    steps_per_epoch = result.history[1]["step"]
    total = steps_per_epoch * cfg.epochs
    warmup = round(cfg.warmup_fraction * total)
    for row in result.history[1:]:   # lr of the epoch's last step
        assert row["lr"] == pytest.approx(cfg.lr * lr_factor(row["step"] - 1, total, warmup), rel=1e-12)


def test_only_trainable_weights_saved(run):
    cfg, result = run
    weights = load_file(str(result.best_checkpoint))
    assert not any(k.startswith("text_backbone.") for k in weights)
    assert set(weights) == set(result.model.trainable_state_dict())
    locked = ("text_adapter.", "text_proj.") if cfg.lock_text_head else ()   # saved: the start is fitted to data
    n_trained = sum(v.numel() for k, v in weights.items()
                    if (k != "logit_scale" or cfg.learn_temperature) and not k.startswith(locked))
    assert cfg.lock_text_head and any(k.startswith("text_proj.") for k in weights)
    assert n_trained == result.trainable_params < result.total_params
    assert (result.trainable_params, result.total_params) == tuple(count_parameters(result.model).values())
    folder = result.best_checkpoint.parent
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*"))
    state = json.loads((folder / "last.json").read_text())
    assert state["epoch"] == 3 and state["build_info"]["model_config"] == cfg.model().to_dict() and state["build_info"]["feature_dim"] == 256


def test_checkpoint_round_trip(run, tiny_samples):
    cfg, result = run
    model, state = load_checkpoint(result.last_checkpoint, text_cache_dir=cfg.text_cache_dir)
    feats = np.random.default_rng(0).normal(size=(7, 256)).astype(np.float32)
    texts = ["open the fridge", "wash the pan"]
    np.testing.assert_array_equal(model.similarity(feats, texts), result.model.similarity(feats, texts))
    # the best checkpoint reproduces its own history row exactly
    from vtkit.train import evaluate
    from vtkit.annotations import load_annotations
    from vtkit.dataset import VideoTextAlignmentDataset
    from vtkit.features import FeatureStore

    best, best_state = load_checkpoint(result.best_checkpoint.parent, text_cache_dir=cfg.text_cache_dir)
    from vtkit.train import EVAL_COLUMNS, selection_split

    _, ann, _ = selection_split(load_annotations(cfg.train_annotations), cfg)
    store = FeatureStore(cfg.video_root)
    feats = {v.video_uid: store[v.video_uid] for v in ann.videos}
    ds = VideoTextAlignmentDataset(ann.videos, feats, negative_ratio=cfg.negative_ratio, seed=cfg.seed,
                                   level=cfg.train_levels, negative_chunks=cfg.negative_chunks)
    row = next(r for r in result.history if r["epoch"] == best_state["epoch"])
    got = evaluate(best, cfg, ds, ann, feats)
    assert {k: got[k] for k in EVAL_COLUMNS} == pytest.approx({k: row[k] for k in EVAL_COLUMNS}, nan_ok=True, abs=0)


def test_interrupted_save_is_refused(run, tmp_path):
    import shutil

    cfg, result = run
    folder = tmp_path / "ck"
    shutil.copytree(result.best_checkpoint.parent, folder)
    best_step = json.loads((folder / "best.json").read_text())["global_step"]
    with safe_open(str(folder / "last.safetensors"), framework="pt") as fh:
        last_step = fh.metadata()["global_step"]
    if int(last_step) != best_step:
        shutil.copy(folder / "last.safetensors", folder / "best.safetensors")  # as if killed before best.json
    else:   # best is the last epoch: best.json left from an earlier save instead
        state = json.loads((folder / "best.json").read_text())
        (folder / "best.json").write_text(json.dumps({**state, "global_step": best_step - 1}))
    with pytest.raises(VtkitError, match="interrupted"):
        read_checkpoint(folder / "best.safetensors")


def test_damaged_checkpoint_is_one_line_error(run, tmp_path):
    import shutil

    cfg, result = run
    folder = tmp_path / "ck"
    shutil.copytree(result.last_checkpoint.parent, folder)
    (folder / "last.optim.safetensors").write_bytes(b"\x00" * 5)      # truncated file
    with pytest.raises(VtkitError, match=r"last\.optim\.safetensors: unreadable checkpoint file") as err:
        read_checkpoint(folder / "last.json")
    assert "\n" not in str(err.value)
    state = json.loads((folder / "last.json").read_text())
    del state["weights"]
    (folder / "last.json").write_text(json.dumps(state))
    with pytest.raises(VtkitError, match="last.json: checkpoint state lacks 'weights'"):
        read_checkpoint(folder / "last.json")


def test_determinism(run, tiny_samples, tmp_path):
    cfg, result = run
    again = train(cfg.replace(out_dir=str(tmp_path)), progress=False)
    assert without_seconds(again.history) == without_seconds(result.history)
    a, b = load_file(str(result.last_checkpoint)), load_file(str(again.last_checkpoint))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_lr_factor_warmup_then_cosine():
    total, warmup = 100, 10
    f = [lr_factor(s, total, warmup) for s in range(total)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0) and f[10] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(f[:10], f[1:10]))          # linear ramp up
    assert all(a >= b for a, b in zip(f[10:], f[11:]))          # then decays
    assert f[55] == pytest.approx(0.5)                           # half way through the cosine
    assert f[-1] < 1e-3 and lr_factor(total, total, warmup) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(0, 10, 0) == 1.0                            # no warmup


def test_plateau_halves_lr_after_two_bad_epochs():
    cfg = Config(lr_schedule="plateau", lr=0.01)
    param = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([param], lr=cfg.lr)
    sched = make_scheduler(cfg, opt, total_steps=10)
    lrs = []
    for val_loss in (1.0, 0.9, 0.9, 0.95, 0.8, 0.85, 0.85):
        sched.step(val_loss)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025])
    assert make_scheduler(cfg.replace(lr_schedule="constant"), opt, 10) is None


def test_plateau_schedule_checkpoints_and_resumes(tiny_samples, tmp_path):
    """ReduceLROnPlateau's state holds infinities; the checkpoint keeps them and a resume restores them."""
    cfg = tiny_config(tiny_samples, tmp_path, lr_schedule="plateau", epochs=1, max_steps_per_epoch=1)
    train(cfg, progress=False)
    state = json.loads((tmp_path / "checkpoints" / "last.json").read_text())
    assert state["scheduler"]["mode_worse"] == "inf"
    resumed = train(cfg.replace(epochs=2, resume=True), progress=False)
    assert resumed.epochs_run == 2
    assert json.loads((tmp_path / "checkpoints" / "last.json").read_text())["epoch"] == state["epoch"] + 1


def test_early_stopping(tiny_samples, tmp_path, monkeypatch):
    import vtkit.train as train_module

    scripted = iter([0.2, 0.5, 0.4, 0.5, 0.9, 0.9])      # epochs 0..5; best at epoch 1, then no gain
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: {
        "heldout_loss": 1.0, "heldout_t2v_R1": 0.0, "heldout_R1@0.3": next(scripted)})
    cfg = tiny_config(tiny_samples, tmp_path, epochs=5, early_stop_patience=2, max_steps_per_epoch=1)
    result = train(cfg, progress=False)
    assert result.stopped_early and result.epochs_run == 3 and result.best_metric == 0.5
    assert json.loads((tmp_path / "checkpoints" / "best.json").read_text())["epoch"] == 1
    assert json.loads((tmp_path / "checkpoints" / "last.json").read_text())["stopped_early"]
    # resuming a finished (stopped) run trains nothing more
    again = train(cfg.replace(resume=True), progress=False)
    assert again.stopped_early and len(again.history) == 4


def test_clip_loss_trains(tiny_samples, tmp_path):
    cfg = tiny_config(tiny_samples, tmp_path, loss="clip", epochs=2, lr_schedule="constant")
    h = train(cfg, progress=False).history
    assert h[2]["heldout_loss"] < h[0]["heldout_loss"] and h[2]["train_loss"] < h[1]["train_loss"]


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("flag, tty, expected", [
    (None, True, True), (None, False, False), ("0", True, False), ("1", False, True), ("false", True, False)])
def test_interactive_output(monkeypatch, flag, tty, expected):
    if flag is None:
        monkeypatch.delenv("VTKIT_INTERACTIVE", raising=False)
    else:
        monkeypatch.setenv("VTKIT_INTERACTIVE", flag)
    monkeypatch.setattr(sys, "stderr", _FakeTerminal() if tty else io.StringIO())
    assert interactive_output() is expected


def test_epoch_line_marks_unmeasured_values():
    row = {"epoch": 0, "step": 0, "lr": 0.001, "train_loss": math.nan, "heldout_loss": 2.345678, "heldout_t2v_R1": 0.25,
           "heldout_R1@0.3": 0.125, "seconds": 3.0}
    assert epoch_line(row, improved=True) == ("epoch 0: lr 0.001  train_loss -  heldout_loss 2.346  heldout_t2v_R1 0.25  "
                                              "heldout_R1@0.3 0.125  *best*")
    assert epoch_line({**row, "epoch": 2, "train_loss": 1.5}).startswith("epoch 2: lr 0.001  train_loss 1.5  ")
    assert epoch_line({**row, "epoch": 2}, stopped=True).endswith("0.125  early stop")


@pytest.fixture
def bars(monkeypatch):
    """The progress bars ``train`` makes, each with the (n, postfix) it had after every update."""
    import tqdm.auto
    from tqdm.std import tqdm as std_tqdm

    made = []

    class Recording(std_tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seen, self.kwargs = [], kwargs
            made.append(self)

        def update(self, n=1):
            done = super().update(n)
            self.seen.append((self.n, self.postfix))
            return done

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    return made


@pytest.mark.parametrize("interactive", [True, False])
def test_progress_bar_advances_and_batch_output_is_one_line_per_epoch(tiny_samples, tmp_path, monkeypatch, bars,
                                                                       capsys, interactive):
    import vtkit.train as train_module

    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: {
        "heldout_loss": 1.0, "heldout_t2v_R1": 0.5, "heldout_R1@0.3": 0.25})
    cfg = tiny_config(tiny_samples, tmp_path, epochs=2, max_steps_per_epoch=3, early_stop_patience=0)
    history = train(cfg, progress=True, interactive=interactive).history
    out, err = capsys.readouterr()
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert epoch_lines[0] == (f"epoch 0: lr {history[0]['lr']:.4g}  train_loss -  heldout_loss 1  heldout_t2v_R1 0.5  "
                              "heldout_R1@0.3 0.25  *best*")
    assert epoch_lines[1].startswith(f"epoch 1: lr {history[1]['lr']:.4g}  train_loss {history[1]['train_loss']:.4g}  ")
    assert [line.split(":")[0] for line in epoch_lines] == ["epoch 0", "epoch 1", "epoch 2"]
    bars[:] = [bar for bar in bars if bar.kwargs["desc"].startswith("epoch")]   # not the (disabled) similarity bars
    assert [(bar.total, bar.kwargs["desc"]) for bar in bars] == [(3, "epoch 1/2"), (3, "epoch 2/2")]
    assert all(bar not in type(bar)._instances for bar in bars)           # closed
    if interactive:
        for bar in bars:
            assert [n for n, _ in bar.seen] == [1, 2, 3]
            assert all(postfix.startswith("loss=") and ", lr=" in postfix for _, postfix in bar.seen)
        assert "epoch 1/2" in err
    else:
        assert all(bar.disable for bar in bars) and "%|" not in err and "epoch 1/2" not in err


def test_resume_keeps_the_early_stopping_metric(tiny_samples, tmp_path, monkeypatch):
    import vtkit.train as train_module

    # alignment cannot be scored in epochs 0-1, so selection moves to t2v R@1 and must stay there after resuming
    scripted = iter([(0.3, math.nan), (0.5, math.nan), (0.2, 0.9), (0.6, 0.1)])

    def fake_evaluate(*args, **kwargs):
        t2v, align = next(scripted)
        return {"heldout_loss": 1.0, "heldout_t2v_R1": t2v, "heldout_R1@0.3": align}

    monkeypatch.setattr(train_module, "evaluate", fake_evaluate)
    cfg = tiny_config(tiny_samples, tmp_path, epochs=1, max_steps_per_epoch=1, early_stop_patience=0)
    first = train(cfg, progress=False)
    assert first.metric == "heldout_t2v_R1" and first.best_metric == 0.5
    result = train(cfg.replace(epochs=3, resume=True), progress=False)
    assert result.metric == "heldout_t2v_R1" and result.best_metric == 0.6
    assert json.loads((tmp_path / "checkpoints" / "best.json").read_text())["epoch"] == 3


class _ColumnModel:
    """Similarity of description k to chunk j is feature column ``COLUMNS[description]`` (others: 0)."""

    COLUMNS = {"s0": 0, "s1": 1}

    def __init__(self):
        self.texts = []

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def similarity(self, features, texts):
        self.texts += texts
        features = np.asarray(features)
        return np.stack([features[:, self.COLUMNS[t]] if t in self.COLUMNS else np.zeros(len(features))
                         for t in texts])


def test_t2v_searches_the_goal_segment_and_scores_steps_and_substeps():
    from pathlib import Path

    from vtkit.annotations import Annotations, Query, Video
    from vtkit.train import evaluate

    def query(i, text, start, end, level="step", step_index=None, parent=None):
        return Query(video_uid="v", annotation_uid="v_4_16", query_idx=i, level=level, description=text,
                     start=start, end=end, step_index=i if step_index is None else step_index,
                     parent_query_idx=parent)

    # goal 4-16 s = chunks 2..7 of 10; s0 is chunk 2, s1 chunk 5
    video = Video("v", 4.0, 16.0, None, None, [query(0, "s0", 4, 6), query(1, "sub", 4, 5, "substep", 0, 0),
                                               query(2, "s1", 10, 12, step_index=1)])
    feats = np.zeros((10, 2), np.float32)
    feats[0, 0], feats[2, 0] = 1.0, 0.5     # s0: best chunk overall 0 (before the goal), inside the goal 2: hit
    feats[9, 1], feats[6, 1] = 1.0, 0.5     # s1: best overall 9, inside the goal 6, its span is 5: miss

    class NoSamples:
        texts = []

        def set_epoch(self, epoch):
            pass

        def __len__(self):
            return 0

    model = _ColumnModel()
    ann = Annotations(Path("val.json"), "val", None, [video], True)
    row = evaluate(model, Config.from_dict({"device": "cpu"}), NoSamples(), ann, {"v": feats})
    assert row["heldout_t2v_R1"] == pytest.approx(2 / 3)   # s0 and the substep (chunk 2) hit, s1 misses
    assert sorted(model.texts) == ["s0", "s1", "sub"]       # one similarity pass, steps and substeps
    assert 0.0 <= row["heldout_R1@0.3"] <= 1.0 and math.isnan(row["heldout_loss"])


class _TableModel:
    """encode_video = identity, encode_text = rows of a fixed table: ``batch_loss`` without a network."""
    device = torch.device("cpu")

    def __init__(self, table):
        self.table, self.encoded = table, []

    def encode_video(self, features):
        return features

    def encode_text(self, texts):
        self.encoded.append(list(texts))
        return self.table[[int(t) for t in texts]]

    def scale(self):
        return torch.tensor(10.0, dtype=torch.float64)


def _unit(*shape, seed):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


def test_infonce_batch_loss_leaves_out_background_rows():
    from vtkit.train import batch_loss

    texts = [str(i) for i in range(6)]
    model = _TableModel(_unit(6, 8, seed=4))
    video = _unit(4, 8, seed=5).requires_grad_()
    positive = torch.tensor([0, -1, 2, 5])
    negatives = torch.tensor([[1, 2, 3], [0, 1, 4], [3, 4, 0], [0, 1, 2]])
    batch = {"features": video, "positive": positive, "negatives": negatives}
    v, want = video.detach(), []
    for i in (0, 2, 3):  # row 1 is background: no description to pull it towards
        logits = [10.0 * float(v[i] @ model.table[positive[i]])]
        logits += [10.0 * float(v[i] @ model.table[j]) for j in negatives[i].tolist()]
        want.append(-(logits[0] - max(logits) - math.log(sum(math.exp(x - max(logits)) for x in logits))))
    loss = batch_loss(model, batch, texts, "infonce")
    assert loss.item() == pytest.approx(np.mean(want), abs=1e-9)
    assert model.encoded == [["0", "1", "2", "3", "4", "5"]]   # the background row's negatives are not encoded
    loss.backward()
    assert torch.all(video.grad[1] == 0) and torch.all(video.grad[[0, 2, 3]].abs().sum(1) > 0)
    # one rank's share: weighted by its non-background rows over the global batch's
    share = batch_loss(model, batch, texts, "infonce", global_positive=torch.tensor([0, -1, 2, 5, 1, 1]), world=2)
    assert share.item() == pytest.approx(np.mean(want) * 3 / 5, abs=1e-9)
    with pytest.raises(VtkitError, match="negative text ids"):
        batch_loss(model, {**batch, "negatives": negatives.masked_fill(negatives == 4, -1)}, texts, "infonce")


def test_infonce_batch_loss_adds_the_text_to_chunk_term_of_kept_rows():
    from vtkit.loss import InfoNCELoss
    from vtkit.train import batch_loss

    texts = [str(i) for i in range(6)]
    model = _TableModel(_unit(6, 8, seed=4))
    video, chunks = _unit(4, 8, seed=5), _unit(4, 3, 8, seed=8)
    valid = torch.tensor([[1, 0, 1], [1, 1, 1], [0, 0, 0], [1, 1, 0]], dtype=torch.bool)
    positive, negatives = torch.tensor([0, -1, 2, 5]), torch.tensor([[1, 2, 3], [0, 1, 4], [3, 4, 0], [0, 1, 2]])
    batch = {"features": video, "positive": positive, "negatives": negatives,
             "negative_chunk_features": chunks, "negative_chunk_valid": valid}
    keep = positive >= 0
    want = InfoNCELoss()(video[keep], model.table[positive[keep]], model.table[negatives[keep]], model.scale(),
                         chunks[keep], valid[keep])
    assert batch_loss(model, batch, texts, "infonce").item() == pytest.approx(want.item(), abs=1e-9)
    plain = {k: batch[k] for k in ("features", "positive", "negatives")}
    assert batch_loss(model, batch, texts, "infonce").item() > batch_loss(model, plain, texts, "infonce").item()


def test_ridge_start_makes_epoch_zero_a_linear_probe(run, tiny_samples, tmp_path):
    from vtkit.dataset import VideoTextAlignmentDataset
    from vtkit.model import DualEncoder
    from vtkit.train import start_projections_by_ridge

    cfg, ridge = run                              # the default: projection_init="ridge"
    unfitted = train(tiny_config(tiny_samples, tmp_path, projection_init="random", epochs=1, early_stop_patience=0),
                     progress=False)
    random, start = unfitted.history, ridge.history[0]
    assert (ridge.start, unfitted.start) == ("ridge start", "untrained")
    assert start["heldout_t2v_R1"] > random[0]["heldout_t2v_R1"] and start["heldout_R1@0.3"] > random[0]["heldout_R1@0.3"]
    assert random[1]["heldout_loss"] < random[0]["heldout_loss"]   # a random start learns from nothing
    from vtkit.annotations import load_annotations
    from vtkit.features import load_video_features

    videos = load_annotations(cfg.train_annotations).videos
    ds = VideoTextAlignmentDataset(videos, {v.video_uid: load_video_features(cfg.video_root, v.video_uid)
                                            for v in videos}, negative_chunks=2)
    model = DualEncoder.from_config(cfg.model(), ds.feature_dim)
    assert start_projections_by_ridge(model, ds) == int((ds.sample_positive >= 0).sum())


def test_training_without_negative_chunks_still_learns(tiny_samples, tmp_path):
    cfg = tiny_config(tiny_samples, tmp_path, negative_chunks=0, epochs=2, lr_schedule="constant",
                      projection_init="random")
    h = train(cfg, progress=False).history
    assert h[2]["heldout_loss"] < h[0]["heldout_loss"] and h[2]["train_loss"] < h[1]["train_loss"]


def test_all_background_batch_loss_is_zero_with_grad():
    from vtkit.train import batch_loss

    model = _TableModel(_unit(4, 8, seed=6))
    for name in ("infonce", "clip"):
        video = _unit(3, 8, seed=7).requires_grad_()
        batch = {"features": video, "positive": torch.full((3,), -1), "negatives": torch.zeros(3, 2, dtype=torch.long)}
        loss = batch_loss(model, batch, ["0", "1", "2", "3"], name)
        loss.backward()
        assert loss.item() == 0.0 and torch.all(video.grad == 0) and model.encoded == []
