"""Losses against plain float64 reference formulas (explicit exp/sum loops, max-shifted)."""
import math

import pytest
import torch

from vtkit.loss import ClipLoss, InfoNCELoss


def unit(*shape, seed=0):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


def neg_log_softmax(logits, target):
    """-log(exp(l_target) / sum_j exp(l_j)) with an explicit loop (shifted by the max to stay finite)."""
    m = max(logits)
    total = 0.0
    for value in logits:
        total += math.exp(value - m)
    return -(logits[target] - m - math.log(total))


def ref_infonce(v, pos, neg, s):
    v, pos, neg = v.numpy(), pos.numpy(), neg.numpy()
    losses = []
    for i in range(len(v)):
        logits = [s * float(v[i] @ pos[i])] + [s * float(v[i] @ neg[i, j]) for j in range(neg.shape[1])]
        losses.append(neg_log_softmax(logits, 0))
    return sum(losses) / len(losses)


def ref_clip(v, t, s, ids=None):
    v, t = v.numpy(), t.numpy()
    n = len(v)
    v2t = t2v = 0.0
    for i in range(n):
        cols = [j for j in range(n) if j == i or ids is None or ids[j] != ids[i]]
        v2t += neg_log_softmax([s * float(v[i] @ t[j]) for j in cols], cols.index(i))
        t2v += neg_log_softmax([s * float(v[j] @ t[i]) for j in cols], cols.index(i))
    return (v2t / n + t2v / n) / 2


@pytest.mark.parametrize("b,r,s", [(8, 4, 14.3), (1, 3, 1 / 0.07), (5, 0, 2.0), (3, 7, 100.0)])
def test_infonce_matches_reference(b, r, s):
    v, pos, neg = unit(b, 16, seed=1), unit(b, 16, seed=2), unit(b, r, 16, seed=3)
    got = InfoNCELoss()(v, pos, neg, torch.tensor(s, dtype=torch.float64))
    assert got.item() == pytest.approx(ref_infonce(v, pos, neg, s), abs=1e-6)


@pytest.mark.parametrize("b,s,with_ids", [(8, 1 / 0.07, False), (8, 1 / 0.07, True), (1, 10.0, True), (6, 100.0, True)])
def test_clip_matches_reference(b, s, with_ids):
    v, t = unit(b, 16, seed=6), unit(b, 16, seed=7)
    ids = torch.tensor([0, 1, 0, 2, 1, 3, 4, 2][:b]) if with_ids else None
    got = ClipLoss()(v, t, torch.tensor(s, dtype=torch.float64), text_ids=ids)
    assert got.item() == pytest.approx(ref_clip(v, t, s, None if ids is None else ids.tolist()), abs=1e-6)


def test_clip_same_text_columns_are_not_negatives():
    # two chunks of the same description: with ids the loss ignores their shared text column.
    v, t = unit(2, 8, seed=8), unit(1, 8, seed=9).repeat(2, 1)
    assert ClipLoss()(v, t, 20.0, text_ids=torch.tensor([3, 3])).item() == 0.0
    assert ClipLoss()(v, t, 20.0).item() > 0.0


def test_clip_all_equal_ids_and_background_rows():
    v, t = unit(5, 8, seed=10), unit(5, 8, seed=11)
    ids = torch.full((5,), 7)
    got = ClipLoss()(v, t, 50.0, text_ids=ids)
    assert torch.isfinite(got) and got.item() == pytest.approx(ref_clip(v, t, 50.0, ids.tolist()), abs=1e-6)
    ids = torch.tensor([0, -1, 1, -1, 2])
    keep = [0, 2, 4]
    got = ClipLoss()(v, t, 5.0, text_ids=ids).item()
    assert got == pytest.approx(ref_clip(v[keep], t[keep], 5.0, [0, 1, 2]), abs=1e-6)


def test_extreme_logits_finite_and_correct():
    # |s * v.t| up to 1e4: scale 100 times embeddings of norm 10.
    v, t, neg = 10 * unit(4, 8, seed=12), 10 * unit(4, 8, seed=13), 10 * unit(4, 3, 8, seed=14)
    v.requires_grad_()
    s = torch.tensor(100.0, dtype=torch.float64)
    for loss, want in [(InfoNCELoss()(v, t, neg, s), ref_infonce(v.detach(), t, neg, 100.0)),
                       (ClipLoss()(v, t, s), ref_clip(v.detach(), t, 100.0)),
                       (ClipLoss()(v, t, s, text_ids=torch.tensor([0, 0, 1, 1])),
                        ref_clip(v.detach(), t, 100.0, [0, 0, 1, 1]))]:
        assert math.isfinite(loss.item()) and loss.item() == pytest.approx(want, rel=1e-9, abs=1e-6)
        v.grad = None
        loss.backward()
        assert torch.isfinite(v.grad).all()
    assert ref_clip(v.detach(), t, 100.0) > 1e3  # really extreme


def test_gradients_finite_and_match_finite_differences():
    v, t, neg = unit(3, 6, seed=15).requires_grad_(), unit(3, 6, seed=16), unit(3, 2, 6, seed=17)
    ids = torch.tensor([0, 1, 0])
    assert torch.autograd.gradcheck(lambda x: InfoNCELoss()(x, t, neg, 7.0), (v,))
    assert torch.autograd.gradcheck(lambda x: ClipLoss()(x, t, 7.0, text_ids=ids), (v,))
    scale = torch.tensor(7.0, dtype=torch.float64, requires_grad=True)
    ClipLoss()(v, t, scale, text_ids=ids).backward()
    assert torch.isfinite(scale.grad) and torch.isfinite(v.grad).all()


def test_infonce_text_to_chunk_term_matches_reference_and_drops_invalid_chunks():
    b, r, m, s = 5, 3, 4, 1 / 0.07
    v, pos, neg, chunks = unit(b, 16, seed=1), unit(b, 16, seed=2), unit(b, r, 16, seed=3), unit(b, m, 16, seed=4)
    valid = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 0, 1], [0, 1, 1, 1]], dtype=torch.bool)
    got = InfoNCELoss()(v, pos, neg, torch.tensor(s, dtype=torch.float64), chunks, valid)
    t2c = []
    for i in range(b):
        logits = [s * float(pos[i] @ v[i])] + [s * float(pos[i] @ chunks[i, j]) for j in range(m) if valid[i, j]]
        t2c.append(neg_log_softmax(logits, 0))
    assert got.item() == pytest.approx(ref_infonce(v, pos, neg, s) + sum(t2c) / b, abs=1e-6)
    every = InfoNCELoss()(v, pos, neg, torch.tensor(s, dtype=torch.float64), chunks)
    assert every.item() == pytest.approx(InfoNCELoss()(v, pos, neg, torch.tensor(s, dtype=torch.float64), chunks,
                                                       torch.ones(b, m, dtype=torch.bool)).item())
