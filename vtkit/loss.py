"""Contrastive losses over unit-norm embeddings; ``logit_scale`` is the model's ``scale()``."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InfoNCELoss(nn.Module):
    """Each chunk against its own positive and sampled negative descriptions.

    ``loss_i = -log(exp(s v_i.t_i) / (exp(s v_i.t_i) + sum_j exp(s v_i.t_ij)))``, mean over ``i``, for
    embeddings ``video [B, E]``, ``positive [B, E]``, ``negatives [B, R, E]`` (background chunks, which have
    no description, are left out by the caller: :func:`vtkit.train.batch_loss`).

    With ``negative_video [B, M, E]`` (chunks of the same video that the positive text does not cover) the
    text-to-chunk term is added: ``-log(exp(s v_i.t_i) / (exp(s v_i.t_i) + sum_m exp(s t_i.u_im)))``, mean
    over ``i``, where ``negative_valid [B, M]`` (bool) leaves chunks out.
    """

    def forward(self, video, positive, negatives, logit_scale, negative_video=None, negative_valid=None):
        pos = logit_scale * (video * positive).sum(-1)                           # [B]
        loss = _nce(pos, logit_scale * torch.einsum("be,bre->br", video, negatives))          # [B, R]
        if negative_video is None:
            return loss
        chunks = logit_scale * torch.einsum("be,bme->bm", positive, negative_video)   # [B, M]
        if negative_valid is not None:
            chunks = chunks.masked_fill(~negative_valid, float("-inf"))
        return loss + _nce(pos, chunks)


def _nce(pos, neg):
    """Mean of ``-log(exp(pos_i) / (exp(pos_i) + sum_j exp(neg_ij)))`` for logits ``pos [B]``, ``neg [B, R]``."""
    return (torch.logsumexp(torch.cat([pos[:, None], neg], dim=1), dim=1) - pos).mean()


class ClipLoss(nn.Module):
    """LaViLa's symmetric loss: ``logits = s * V @ T^T``; mean of video->text and text->video cross entropy.

    ``text_ids [B]`` (optional) says which rows share a description. Rule: pairs that share a text id are not
    each other's negatives: in row ``i`` (video->text) every column ``j != i`` with ``text_ids[j] ==
    text_ids[i]`` is masked out of the softmax, keeping only the diagonal positive; the mask is symmetric, so
    the same holds for text->video. With all ids equal, every row keeps only its positive and the loss is 0.
    Rows with text id -1 (background chunks, no description) are dropped from the batch.
    """

    def forward(self, video, text, logit_scale, text_ids=None):
        if text_ids is not None:
            keep = text_ids >= 0
            video, text, text_ids = video[keep], text[keep], text_ids[keep]
        n = video.shape[0]
        if n == 0:
            return (video.sum() + text.sum()) * 0.0
        logits = logit_scale * video @ text.T
        if text_ids is not None:
            same = text_ids[:, None] == text_ids[None, :]
            same.fill_diagonal_(False)
            logits = logits.masked_fill(same, float("-inf"))
        target = torch.arange(n, device=logits.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
