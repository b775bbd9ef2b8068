"""A LaViLa checkpoint as the dual encoder's text model: the untrained kit is LaViLa zero-shot, block
adapters, cache identity, bad files, training and ``vtkit predict``."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lavila_fixtures import clip_text_state, distilbert_state, save_code_running, save_released, visual_state
from vtkit.config import Config
from vtkit.errors import VtkitError
from vtkit.lavila import load_lavila, project_video
from vtkit.loss import ClipLoss
from vtkit.model import DualEncoder
from vtkit.text import LAVILA_TOKENIZER_DIR, resolve_text_model, text_model_key

WIDTH, EMBED, VISION = 64, 32, 128
TEXTS = ["crack the eggs into a bowl", "whisk the eggs", "fry the omelet", "cut the onion"]
WORDS = ["crack", "the", "eggs", "into", "a", "bowl", "whisk", "fry", "omelet", "cut", "onion"]


def _distilbert_tokenizer(folder):
    from transformers import DistilBertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS) + "\n")
    DistilBertTokenizer(str(vocab)).save_pretrained(folder)


@pytest.fixture(scope="module", params=["clip", "distilbert"])
def lavila_path(request, tmp_path_factory):
    """A released-layout checkpoint with a visual tower (vision width 128); DistilBERT with its tokenizer beside."""
    folder = tmp_path_factory.mktemp(f"lavila-{request.param}")
    if request.param == "clip":
        state, family = clip_text_state(width=WIDTH, embed=EMBED), "CLIP_OPENAI_TIMESFORMER_BASE"
    else:
        state, family = distilbert_state(dim=WIDTH, embed=EMBED), "CLIP_OPENAI_TIMESFORMER_BASE_DISTILBERT_BASE"
        _distilbert_tokenizer(folder / LAVILA_TOKENIZER_DIR)
    return save_released(folder / "lavila.pth", {**state, **visual_state(width=VISION, embed=EMBED)}, family)


def model_config(path, **changes):
    return Config().replace(**{"text_model": str(path), "embed_dim": EMBED, "adapter_dim": 8, **changes}).model()


@pytest.mark.parametrize("feature_dim", [EMBED, VISION], ids=["projected", "pre-projection"])
def test_untrained_model_is_lavila_zero_shot(lavila_path, feature_dim):
    ckpt = load_lavila(lavila_path, tokenizer_dir=lavila_path.parent / LAVILA_TOKENIZER_DIR)
    torch.manual_seed(0)
    model = DualEncoder.from_config(model_config(lavila_path), feature_dim)
    feats = torch.randn(9, feature_dim)
    want = ckpt.encode_text(TEXTS) @ F.normalize(project_video(feats, ckpt), dim=-1).T
    diff = float(np.abs(model.similarity(feats, TEXTS, batch_size=4) - want.numpy()).max())
    assert diff < 1e-5, diff
    assert model.text_proj.in_features == WIDTH and not model.text_backbone.training


def test_other_feature_sizes_get_a_learned_video_projection(lavila_path):
    with pytest.warns(UserWarning, match=r"D=50 are not .*projected features \(32\) or its pre-projection ones \(128\)"):
        model = DualEncoder.from_config(model_config(lavila_path), 50)
    assert model.similarity(torch.randn(3, 50), TEXTS).shape == (4, 3)


class _Pairs:
    """A stand-in training split for start_projections_by_ridge: four texts, each chunk covered by one."""

    def __init__(self, feature_dim):
        self.texts, self.sample_positive = TEXTS, np.arange(12) % len(TEXTS)
        self.features = torch.randn(12, feature_dim)

    def positive_pairs(self):
        yield self.features, torch.as_tensor(self.sample_positive)


@pytest.mark.parametrize("feature_dim", [EMBED, VISION, 50], ids=["projected", "pre-projection", "other"])
def test_ridge_start_keeps_what_lavila_sets(lavila_path, feature_dim):
    from vtkit.train import start_projections_by_ridge

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DualEncoder.from_config(model_config(lavila_path), feature_dim)
    before = {k: v.clone() for k, v in model.trainable_state_dict().items()}
    fitted = start_projections_by_ridge(model, _Pairs(feature_dim))
    after = model.trainable_state_dict()
    assert torch.equal(before["text_proj.weight"], after["text_proj.weight"])   # LaViLa's own projection
    random_video = feature_dim == 50
    assert fitted == (12 if random_video else 0)
    assert torch.equal(before["video_proj.weight"], after["video_proj.weight"]) != random_video


def test_embed_dim_must_be_the_checkpoints(lavila_path):
    with pytest.raises(VtkitError, match=f"embed_dim: must equal the LaViLa checkpoint's embedding size {EMBED}") \
            as err:
        DualEncoder.from_config(model_config(lavila_path, embed_dim=16), EMBED)
    assert str(lavila_path) in str(err.value) and "\n" not in str(err.value)


def test_block_adapters_train_and_the_tower_stays_frozen(lavila_path):
    plain = DualEncoder.from_config(model_config(lavila_path), EMBED)
    model = DualEncoder.from_config(model_config(lavila_path, text_block_adapters=True), EMBED)
    assert len(model.text_block_adapters) == 2 and not model.text_cacheable
    feats = torch.randn(4, EMBED)
    np.testing.assert_allclose(model.similarity(feats, TEXTS), plain.similarity(feats, TEXTS), atol=1e-6)
    model.train()
    v, t, s = model(feats, TEXTS)
    ClipLoss()(v, t, s).backward()
    assert all(a.up.weight.grad.abs().sum() > 0 for a in model.text_block_adapters)
    backbone = [(n, p) for n, p in model.text_backbone.named_parameters() if ".adapter." not in n]
    assert backbone and all(not p.requires_grad and p.grad is None for _, p in backbone)


def test_text_cache_is_keyed_by_the_checkpoint_file(tmp_path):
    path = save_released(tmp_path / "lavila.pth", clip_text_state(width=WIDTH, embed=EMBED, seed=0), None)
    cache = tmp_path / "cache"
    first = DualEncoder.from_config(model_config(path), EMBED, cache)
    with torch.no_grad():
        pooled_a = first.pooled_text(TEXTS)
    key_a = text_model_key(path)
    stamp = path.stat().st_mtime_ns
    save_released(path, clip_text_state(width=WIDTH, embed=EMBED, seed=1), None)   # same name and size
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    assert text_model_key(path) != key_a
    second = DualEncoder.from_config(model_config(path), EMBED, cache)
    with torch.no_grad():
        pooled_b = second.pooled_text(TEXTS)
        fresh_b = second._run_backbone(TEXTS)
    assert torch.allclose(pooled_b, fresh_b, atol=1e-6) and not torch.allclose(pooled_a, pooled_b)
    assert len(list(cache.iterdir())) == 2


def test_bad_checkpoint_files_are_one_line_errors(tmp_path):
    marker = tmp_path / "ran.txt"
    evil = save_code_running(tmp_path / "evil.pth", marker, clip_text_state(width=WIDTH, embed=EMBED))
    with pytest.raises(VtkitError, match="refused"):
        DualEncoder.from_config(model_config(evil), EMBED)
    assert not marker.exists()
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"module.fc.weight": torch.zeros(2, 2)}}, other)
    with pytest.raises(VtkitError, match="text_model: not a LaViLa dual-encoder checkpoint"):
        resolve_text_model(str(other))
    with pytest.raises(VtkitError, match="LaViLa checkpoint not found"):
        resolve_text_model(str(tmp_path / "missing.pth"))


# ----------------------------------------------------------------------------------------------
# end to end on the tiny generated samples (256-d features: LaViLa's projected kind)
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lavila_256(tmp_path_factory):
    path = tmp_path_factory.mktemp("lavila-256") / "lavila_256.pth"
    return save_released(path, clip_text_state(width=WIDTH, embed=256, seed=4), "CLIP_OPENAI_TIMESFORMER_BASE")


def test_training_starts_from_lavila_zero_shot_and_predict_works(tiny_samples, lavila_256, tmp_path, monkeypatch,
                                                                 capsys):
    import vtkit.train as train_module
    from test_train import tiny_config
    from vtkit.cli import main
    from vtkit.features import FeatureStore

    cfg = tiny_config(tiny_samples, tmp_path / "run", text_model=str(lavila_256), epochs=2, early_stop_patience=0)
    uid = sorted(p.name for p in (tiny_samples / "videos").iterdir() if p.is_dir())[0]
    feats = np.asarray(FeatureStore(cfg.video_root)[uid], dtype=np.float32)
    ckpt = load_lavila(lavila_256)
    zero_shot = (ckpt.encode_text(TEXTS) @ F.normalize(torch.from_numpy(feats), dim=-1).T).numpy()

    seen, evaluate = [], train_module.evaluate

    def recording_evaluate(model, *args):
        seen.append(model.similarity(feats, TEXTS))
        return evaluate(model, *args)

    monkeypatch.setattr(train_module, "evaluate", recording_evaluate)
    result = train_module.train(cfg, progress=False)
    assert [r["epoch"] for r in result.history] == [0, 1, 2]
    assert float(np.abs(seen[0] - zero_shot).max()) < 1e-5          # epoch 0 is LaViLa zero-shot
    assert float(np.abs(seen[-1] - zero_shot).max()) > 1e-3          # and training moved it

    steps = tmp_path / "steps.txt"
    steps.write_text("\n".join(TEXTS) + "\n")
    out = tmp_path / "segments.json"
    base = ["predict", "--features", str(tiny_samples / "videos" / uid), "--steps", str(steps)]
    assert main(base + ["--text-model", str(lavila_256), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [s["description"] for s in doc["segments"]] == TEXTS
    assert "untrained" in capsys.readouterr().err
    assert main(base + ["--checkpoint", str(result.best_checkpoint), "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["segments"]) == len(TEXTS)
