"""Dual encoder: shapes, frozen backbone, adapters, text cache, checkpoints, any local model directory."""
import copy
import math
import shutil
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vtkit.config import Config
from vtkit.errors import VtkitError
from vtkit.loss import ClipLoss
from vtkit.model import DualEncoder, context_windows, count_parameters
from vtkit.text import TextEmbeddingCache, load_text_backbone, resolve_text_model

D, E, A = 32, 16, 8
TEXTS = ["cut the onion", "wash the pan", "add salt to the pot"]


@pytest.fixture(scope="module")
def minilm():
    tokenizer, backbone = load_text_backbone("all-MiniLM-L6-v2")
    return tokenizer, backbone, resolve_text_model("all-MiniLM-L6-v2")


def build(minilm, **overrides):
    """A model on a private copy of the loaded MiniLM (block adapters edit the backbone in place)."""
    tokenizer, backbone, model_dir = minilm
    cache_dir = overrides.pop("text_cache_dir", None)
    cfg = Config().replace(**{"embed_dim": E, "adapter_dim": A, **overrides}).model()
    torch.manual_seed(0)
    return DualEncoder(cfg, D, tokenizer, copy.deepcopy(backbone), TextEmbeddingCache.for_model(cache_dir, model_dir))


def count_backbone_rows(model):
    rows = []
    model.text_backbone.register_forward_hook(lambda m, args, kwargs, out: rows.append(len(kwargs["input_ids"])),
                                              with_kwargs=True)
    return rows


def test_shapes_and_unit_norm(minilm):
    model = build(minilm)
    v, t, s = model(torch.randn(5, D), TEXTS)
    assert v.shape == (5, E) and t.shape == (3, E)
    assert torch.allclose(v.norm(dim=-1), torch.ones(5)) and torch.allclose(t.norm(dim=-1), torch.ones(3))
    assert s.item() == pytest.approx(1 / 0.07)
    assert model.encode_text([]).shape == (0, E)
    sim = model.similarity(np.random.default_rng(0).normal(size=(7, D)).astype(np.float16), TEXTS, batch_size=3)
    assert sim.shape == (3, 7) and sim.dtype == np.float32


def test_similarity_is_batched_cosine(minilm):
    model = build(minilm, adapter="clip")
    feats = torch.randn(11, D)
    with torch.no_grad():
        want = F.normalize(model.text_proj(model.text_adapter(model.pooled_text(TEXTS))), dim=-1) @ \
            F.normalize(model.video_proj(model.video_adapter(feats)), dim=-1).T
    np.testing.assert_allclose(model.similarity(feats, TEXTS, batch_size=4), want.numpy(), atol=1e-6)
    np.testing.assert_allclose(model.similarity(feats.numpy(), TEXTS, batch_size=100), want.numpy(), atol=1e-6)
    read_only = feats.numpy().copy()
    read_only.setflags(write=False)      # as a memory-mapped packed store returns
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # torch warns when it would share a non-writable array
        np.testing.assert_allclose(model.similarity(read_only, TEXTS), want.numpy(), atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):   # reduced precision output still comes back as float32
        sim = model.similarity(feats, TEXTS)
    assert sim.dtype == np.float32
    np.testing.assert_allclose(sim, want.numpy(), atol=0.05)


def test_context_window(minilm):
    x = torch.arange(4.0)[:, None].repeat(1, 2)  # chunk i has features [i, i]
    np.testing.assert_array_equal(context_windows(x, 1)[..., 0].numpy(), [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]])
    model = build(minilm, context_window=2)
    weights = model.context.logits.softmax(0)
    assert weights.argmax().item() == 2 and torch.allclose(weights, weights.flip(0))
    feats = torch.randn(9, D)
    windows = context_windows(feats, 2)
    assert model.encode_video(windows).shape == (9, E)
    pooled = (windows * weights[None, :, None]).sum(1)  # the weighted sum, written out
    with torch.no_grad():
        want = model.encode_text(TEXTS) @ F.normalize(model.video_proj(model.video_adapter(pooled)), dim=-1).T
    np.testing.assert_allclose(model.similarity(feats, TEXTS, batch_size=4), want.numpy(), atol=1e-6)
    with pytest.raises(VtkitError, match="context_window=2"):
        model.encode_video(feats)


def test_bad_feature_shape(minilm):
    model = build(minilm)
    with pytest.raises(VtkitError, match=r"\[B, 32\]"):
        model.encode_video(torch.randn(3, D + 1))
    with pytest.raises(VtkitError, match="features"):
        model.similarity(torch.randn(3, 4, D), TEXTS)


def test_zero_init_bottleneck_is_identity(minilm):
    plain = build(minilm, adapter="none")
    model = build(minilm, adapter="bottleneck", text_block_adapters=True)
    f = torch.randn(4, D)
    h = torch.randn(4, 384)
    assert torch.equal(model.video_adapter(f), f) and torch.equal(model.text_adapter(h), h)
    with torch.no_grad():  # block adapters at init leave the backbone's output unchanged
        np.testing.assert_allclose(model.pooled_text(TEXTS).numpy(), plain.pooled_text(TEXTS).numpy(), atol=1e-6)


def test_clip_adapter_formula(minilm):
    model = build(minilm, adapter="clip", clip_alpha=0.3)
    f = torch.randn(4, D)
    a = model.video_adapter
    want = 0.3 * torch.relu(torch.relu(f @ a.down.weight.T) @ a.up.weight.T) + 0.7 * f
    assert torch.allclose(a(f), want, atol=1e-6)


def test_parameter_counts(minilm):
    backbone_total = sum(p.numel() for p in minilm[1].parameters())
    h = 384
    bottleneck = lambda dim: dim * A + A + A * dim + dim  # noqa: E731
    heads = D * E + E + h * E   # the video projection has a bias
    model = build(minilm, lock_text_head=False)
    want = bottleneck(D) + bottleneck(h) + heads + 1
    assert count_parameters(model) == {"trainable": want, "total": want + backbone_total}
    assert count_parameters(build(minilm, adapter="none", learn_temperature=False,
                                  lock_text_head=False))["trainable"] == heads
    locked = build(minilm)   # the default: the text adapter and projection stay as they start
    assert count_parameters(locked) == {"trainable": bottleneck(D) + D * E + E + 1, "total": want + backbone_total}
    clip = build(minilm, adapter="clip")   # the CLIP-Adapter starts random: it trains under the locked projection
    assert count_parameters(clip)["trainable"] == 2 * D * A + 2 * h * A + D * E + E + 1
    blocks = build(minilm, text_block_adapters=True, context_window=1, lock_text_head=False)
    assert count_parameters(blocks)["trainable"] == want + 6 * bottleneck(h) + 3
    assert count_parameters(blocks)["total"] == want + 6 * bottleneck(h) + 3 + backbone_total


def test_backbone_frozen_and_adapters_train(minilm):
    model = build(minilm, text_block_adapters=True, lock_text_head=False)
    assert not any(p.requires_grad for p in model.text_backbone.parameters() if p not in
                   set(model.text_block_adapters.parameters()))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-2)
    model.train()
    assert not model.text_backbone.training and model.video_proj.training
    for _ in range(2):  # two steps: zero-initialised up-projections first, then the down-projections move
        v, t, s = model(torch.randn(3, D), TEXTS)
        opt.zero_grad()
        ClipLoss()(v, t, s).backward()
        opt.step()
    after = model.state_dict()
    frozen = [k for k in after if k.startswith("text_backbone.") and ".adapter." not in k]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    for name in ["video_adapter.up.weight", "video_adapter.down.weight", "text_adapter.up.weight",
                 "text_block_adapters.0.up.weight", "text_block_adapters.5.down.weight",
                 "video_proj.weight", "text_proj.weight", "logit_scale"]:
        assert not torch.equal(before[name], after[name]), name


def test_temperature(minilm):
    model = build(minilm, temperature=0.05, learn_temperature=False)
    assert not model.logit_scale.requires_grad and model.scale().item() == pytest.approx(20.0)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(1000.0))
    assert model.scale().item() == pytest.approx(100.0)


def test_text_cache_memory_and_disk(minilm, tmp_path):
    model = build(minilm, text_cache_dir=str(tmp_path))
    rows = count_backbone_rows(model)
    first = model.encode_text(TEXTS + TEXTS[:1])
    assert rows == [3]
    model.encode_text([TEXTS[1], "stir the soup"])
    assert rows == [3, 1]
    shards = list(tmp_path.glob("*/*.safetensors"))
    assert len(shards) == 2
    # cached pooled vectors equal a fresh backbone run
    with torch.no_grad():
        fresh = model._run_backbone(TEXTS)
    np.testing.assert_allclose(model.pooled_text(TEXTS).numpy(), fresh.numpy(), atol=1e-6)

    other = build(minilm, text_cache_dir=str(tmp_path))  # a new instance reads the disk cache
    other.load_trainable_state_dict(model.trainable_state_dict())
    other_rows = count_backbone_rows(other)
    np.testing.assert_allclose(other.encode_text(TEXTS + TEXTS[:1]).detach().numpy(), first.detach().numpy(),
                               atol=1e-6)
    other.encode_text(["stir the soup"])
    assert other_rows == []

    blocks = build(minilm, text_cache_dir=str(tmp_path), text_block_adapters=True)  # no cache: backbone changes
    block_rows = count_backbone_rows(blocks)
    blocks.encode_text(TEXTS)
    blocks.encode_text(TEXTS)
    assert block_rows == [3, 3] and len(list(tmp_path.glob("*/*.safetensors"))) == 2


def test_trainable_state_dict_roundtrip(minilm, tmp_path):
    from safetensors.torch import load_file, save_file

    model = build(minilm, adapter="clip", context_window=1, text_block_adapters=True)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    sd = model.trainable_state_dict()
    assert sd and not any(k.startswith("text_backbone.") for k in sd)
    save_file(sd, tmp_path / "w.safetensors")
    assert (tmp_path / "w.safetensors").stat().st_size < 2_000_000
    rebuilt = build(minilm, **{k: v for k, v in model.build_info()["model_config"].items()
                               if k in ("adapter", "context_window", "text_block_adapters")})
    rebuilt.load_trainable_state_dict(load_file(tmp_path / "w.safetensors"))
    feats = torch.randn(6, D)
    np.testing.assert_allclose(rebuilt.similarity(feats, TEXTS), model.similarity(feats, TEXTS), atol=1e-6)
    with pytest.raises(VtkitError, match="checkpoint does not match"):
        build(minilm).load_trainable_state_dict(sd)


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def tiny_model_dir(request, tmp_path_factory, minilm):
    from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

    torch.manual_seed(0)
    if request.param == "bert":
        model = BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64))
    else:
        model = DistilBertModel(DistilBertConfig(dim=32, hidden_dim=64, n_layers=2, n_heads=2,
                                                 max_position_embeddings=64))
    path = tmp_path_factory.mktemp(f"tiny-{request.param}")
    model.save_pretrained(path)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm[2] / name, path / name)
    return path


def test_any_local_model_directory(tiny_model_dir, tmp_path):
    cfg = Config().replace(text_model=str(tiny_model_dir), embed_dim=E, adapter_dim=A, text_block_adapters=True)
    model = DualEncoder.from_config(cfg.model(), D)
    assert len(model.text_block_adapters) == 2 and model.text_proj.in_features == 32
    plain = DualEncoder.from_config(cfg.replace(text_block_adapters=False).model(), D, str(tmp_path))
    with torch.no_grad():
        np.testing.assert_allclose(model.pooled_text(TEXTS).numpy(), plain.pooled_text(TEXTS).numpy(), atol=1e-6)
    v, t, s = model(torch.randn(3, D), TEXTS)
    ClipLoss()(v, t, s).backward()
    assert all(a.up.weight.grad.abs().sum() > 0 for a in model.text_block_adapters)
    assert all(p.grad is None for n, p in model.text_backbone.named_parameters() if ".adapter." not in n)
    assert model.similarity(torch.randn(4, D), TEXTS).shape == (3, 4)


def test_missing_model_directory(tmp_path):
    with pytest.raises(VtkitError, match="not a local transformers model directory"):
        DualEncoder.from_config(Config().replace(text_model=str(tmp_path / "nope")).model(), D)


def test_text_model_key_reads_file_stats_not_weights(tmp_path):
    import os

    from vtkit import text as text_module

    folder = tmp_path / "tiny-text"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 8}')
    weights = folder / "model.safetensors"
    weights.write_bytes(b"a" * 1000)
    stamp = weights.stat().st_mtime_ns
    key = text_module._text_model_key.__wrapped__
    first = key(str(folder))
    weights.write_bytes(b"b" * 1000)                 # same size and time: the contents are not read
    os.utime(weights, ns=(stamp, stamp))
    assert key(str(folder)) == first
    weights.write_bytes(b"b" * 1001)                 # another size
    os.utime(weights, ns=(stamp, stamp))
    assert key(str(folder)) != first
    os.utime(weights, ns=(stamp, stamp + 1))         # another modification time
    second = key(str(folder))
    assert second != first
    (folder / "config.json").write_text('{"hidden_size": 16}')
    assert key(str(folder)) != second
    # computed once per folder: later models with the same folder reuse it
    text_module._text_model_key.cache_clear()
    assert text_module.text_model_key(folder) == text_module.text_model_key(folder / ".." / folder.name)
    info = text_module._text_model_key.cache_info()
    assert (info.misses, info.hits) == (1, 1)


# ---- the least-squares start (projection_init="ridge")

def reference_ridge(X, Y, ridge):
    """Standardised inputs plus an unpenalised intercept, solved as one augmented least-squares problem."""
    n, d = X.shape
    mu, sd = X.mean(0), X.std(0)
    Z = np.hstack([(X - mu) / sd, np.ones((n, 1))])
    penalty = np.hstack([np.sqrt(ridge * n) * np.eye(d), np.zeros((d, 1))])
    coef = np.linalg.lstsq(np.vstack([Z, penalty]), np.vstack([Y, np.zeros((d, Y.shape[1]))]), rcond=None)[0]
    W = coef[:d] / sd[:, None]
    return W, coef[d] - mu @ W


@pytest.mark.parametrize("adapter", ["bottleneck", "clip"])
def test_fit_video_projection_is_ridge_regression_on_the_projection_inputs(minilm, adapter):
    model = build(minilm, adapter=adapter, adapter_dropout=0.5 if adapter == "bottleneck" else 0.0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, D)) * rng.uniform(0.5, 3, D) + rng.normal(size=D)
    Y = rng.normal(size=(200, E))
    model.train()
    batches = [(torch.tensor(X[i:i + 64], dtype=torch.float32), torch.tensor(Y[i:i + 64])) for i in range(0, 200, 64)]
    assert model.fit_video_projection(iter(batches), ridge=0.05) == 200
    assert model.training                          # its own mode back; the fit ran without dropout
    with torch.no_grad():
        inputs = model.eval().video_inputs(torch.tensor(X, dtype=torch.float32)).double().numpy()
    W, b = reference_ridge(inputs, Y, 0.05)
    np.testing.assert_allclose(model.video_proj.weight.detach().numpy().T, W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.video_proj.bias.detach().numpy(), b, rtol=1e-4, atol=1e-5)


def test_an_input_that_never_varies_gets_no_weight(minilm):
    model = build(minilm, adapter="none")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, D)) + 3.0
    X[:, 0] = 5.0
    Y = rng.normal(size=(300, E))
    model.fit_video_projection(iter([(torch.tensor(X, dtype=torch.float32), torch.tensor(Y))]), ridge=0.01)
    assert torch.count_nonzero(model.video_proj.weight[:, 0]) == 0
    W, b = reference_ridge(X[:, 1:].astype(np.float32).astype(np.float64), Y, 0.01)
    np.testing.assert_allclose(model.video_proj.weight.detach().numpy().T[1:], W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.video_proj.bias.detach().numpy(), b, rtol=1e-4, atol=1e-5)


def test_fit_video_projection_needs_two_pairs(minilm):
    model = build(minilm)
    with pytest.raises(VtkitError, match="at least 2 chunks.*got 1"):
        model.fit_video_projection(iter([(torch.randn(1, D), torch.randn(1, E))]))


def test_start_text_projection_takes_the_principal_directions(minilm):
    model = build(minilm)
    texts = TEXTS + ["stir the soup", "peel a carrot"]
    model.start_text_projection(texts)
    P = model.text_proj.weight.detach().double()
    with torch.no_grad():
        pooled = model.pooled_text(texts).double()
    k = len(texts)   # fewer texts than embed_dim: an isometry on their span, zero rows after it
    np.testing.assert_allclose((P[:k] @ P[:k].T).numpy(), np.eye(k), atol=1e-6)
    assert torch.count_nonzero(P[k:]) == 0
    np.testing.assert_allclose((pooled @ P.T).norm(dim=1).numpy(), pooled.norm(dim=1).numpy(), rtol=1e-5)
    many = build(minilm, embed_dim=4)   # more texts than embed_dim: the top directions
    many.start_text_projection(texts)
    top = torch.linalg.svd(pooled, full_matrices=False).Vh[:4]
    np.testing.assert_allclose(many.text_proj.weight.detach().double().numpy(), top.numpy(), atol=1e-5)


def test_checkpoint_without_the_video_bias_loads_with_a_zero_bias(minilm):
    model = build(minilm)
    state = {k: v.clone() for k, v in model.trainable_state_dict().items() if k != "video_proj.bias"}
    with torch.no_grad():
        model.video_proj.bias.fill_(1.0)
    model.load_trainable_state_dict(state)
    assert torch.count_nonzero(model.video_proj.bias) == 0


def test_locked_text_head_stays_and_block_adapters_still_train(minilm):
    model = build(minilm, text_block_adapters=True)   # lock_text_head=True by default
    before = {k: v.clone() for k, v in model.trainable_state_dict().items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(2):
        v, t, s = model(torch.randn(3, D), TEXTS)
        opt.zero_grad()
        ClipLoss()(v, t, s).backward()
        opt.step()
    after = model.trainable_state_dict()
    for name in ("text_proj.weight", "text_adapter.up.weight", "text_adapter.down.weight"):
        assert torch.equal(before[name], after[name]), name
    for name in ("video_proj.weight", "video_proj.bias", "text_block_adapters.5.down.weight", "logit_scale"):
        assert not torch.equal(before[name], after[name]), name
