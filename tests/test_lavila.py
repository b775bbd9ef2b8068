"""LaViLa checkpoints: safe loading, the text and visual towers against independent implementations."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lavila_fixtures import (clip_text_state, distilbert_state, save_code_running, save_released,
                             visual_state)
from vtkit.errors import VtkitError
from vtkit.lavila import (ClipTextTower, DistilBertTextTower, SpaceTimeVisual, clip_tokenize,
                          is_lavila_checkpoint, load_lavila, project_video, read_lavila_checkpoint)

WIDTH, EMBED = 64, 32


@pytest.fixture(scope="module")
def clip_state():
    return {**clip_text_state(width=WIDTH, embed=EMBED), **visual_state(width=128, embed=EMBED)}


@pytest.fixture(scope="module")
def clip_ckpt(tmp_path_factory, clip_state):
    path = tmp_path_factory.mktemp("lavila") / "clip_openai_timesformer_base.pth"
    return save_released(path, clip_state, "CLIP_OPENAI_TIMESFORMER_BASE")


# ----------------------------------------------------------------------------------------------
# reading checkpoints
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["released", "state_dict", "bare"])
def test_every_released_layout_loads_to_the_same_towers(tmp_path, clip_state, clip_ckpt, layout):
    path = save_released(tmp_path / "ckpt.pth", clip_state, "CLIP_OPENAI_TIMESFORMER_BASE", layout=layout)
    ckpt, ref = load_lavila(path), load_lavila(clip_ckpt)
    # args.model when saved, else read from the keys (a tiny width is named by its width)
    assert ckpt.family == ("CLIP_OPENAI_TIMESFORMER_BASE" if layout == "released" else "CLIP_OPENAI_TIMESFORMER_W128")
    assert (ckpt.args or {}).get("model") == ("CLIP_OPENAI_TIMESFORMER_BASE" if layout == "released" else None)
    assert ckpt.embed_dim == EMBED and ckpt.text_kind == "clip" and ckpt.text_tower.width == WIDTH
    assert ckpt.visual.width == 128 and ckpt.visual.num_frames == 4 and ckpt.visual.resolution == 32
    assert torch.equal(ckpt.encode_text(["cut the onion"]), ref.encode_text(["cut the onion"]))
    assert math.isclose(float(ckpt.logit_scale.exp()), 1 / 0.07, rel_tol=1e-6)
    assert is_lavila_checkpoint(path)


def test_state_dict_keys_lose_the_ddp_prefix(clip_ckpt, clip_state):
    state, args = read_lavila_checkpoint(clip_ckpt)
    assert set(state) == set(clip_state) and args["model"] == "CLIP_OPENAI_TIMESFORMER_BASE"


def test_a_pickle_that_runs_code_is_refused_unopened(tmp_path, clip_state):
    marker = tmp_path / "pwned.txt"
    path = save_code_running(tmp_path / "evil.pth", marker, clip_state)
    with pytest.raises(VtkitError, match="refused") as err:
        load_lavila(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert not is_lavila_checkpoint(path)
    assert not marker.exists()


def test_unreadable_and_foreign_files_are_one_line_errors(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(VtkitError, match="not a readable checkpoint"):
        load_lavila(junk)
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"module.fc.weight": torch.zeros(2, 2)}}, other)
    with pytest.raises(VtkitError, match="not a LaViLa dual encoder"):
        load_lavila(other)
    assert not is_lavila_checkpoint(other) and not is_lavila_checkpoint(tmp_path)
    with pytest.raises(VtkitError, match="not found"):
        load_lavila(tmp_path / "missing.pth")


def test_args_model_must_match_the_weights(tmp_path, clip_state):
    path = save_released(tmp_path / "x.pth", clip_state, "CLIP_OPENAI_TIMESFORMER_BASE_DISTILBERT_BASE")
    with pytest.raises(VtkitError, match="args.model.*clip text tower"):
        load_lavila(path)
    path = save_released(tmp_path / "y.pth", clip_state, "VCLM_OPENAI_TIMESFORMER_BASE_GPT2")
    with pytest.raises(VtkitError, match="unsupported LaViLa model"):
        load_lavila(path)


# ----------------------------------------------------------------------------------------------
# tokenizer and text towers
# ----------------------------------------------------------------------------------------------

# Reference ids from LaViLa's own SimpleTokenizer (lavila/models/tokenizer.py with its
# bpe_simple_vocab_16e6.txt.gz), run outside this project.
REFERENCE_IDS = {
    "crack the eggs into a bowl": [49406, 10334, 518, 7099, 1095, 320, 3814, 49407],
    "C picks up the knife.": [49406, 322, 8551, 705, 518, 8960, 269, 49407],
    "Whisk  the\teggs &amp; milk": [49406, 6024, 330, 518, 7099, 261, 5205, 49407],
    "it's the chef's 2nd café crème": [49406, 585, 568, 518, 4895, 568, 273, 1764, 15304, 1075, 12138, 614, 49407],
    "fry the omelet 🍳 for 3-4 minutes!": [49406, 13686, 518, 3693, 1094, 37441, 556, 274, 268, 275, 3056, 256, 49407],
    "cafÃ© &lt;b&gt;stir&lt;/b&gt;": [49406, 15304, 283, 321, 285, 19564, 34308, 321, 285, 49407],
}


def test_clip_token_ids_equal_lavilas_tokenizer():
    ids = clip_tokenize(list(REFERENCE_IDS))
    assert ids.shape == (len(REFERENCE_IDS), 77) and ids.dtype == torch.int64
    for row, expected in zip(ids, REFERENCE_IDS.values()):
        assert row[:len(expected)].tolist() == expected
        assert not row[len(expected):].any()   # padded with 0


def test_long_text_is_cut_to_77_keeping_the_end_token():
    ids = clip_tokenize(["add salt " * 40])[0]   # 80 BPE tokens
    assert ids[0] == 49406 and ids[-1] == 49407 and ids[1:4].tolist() == [3536, 6611, 3536]


def _hf_clip_text(state, width, layers, embed):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=49408, hidden_size=width, intermediate_size=4 * width,
                            num_hidden_layers=layers, num_attention_heads=width // 64, max_position_embeddings=77,
                            hidden_act="quick_gelu", projection_dim=embed, eos_token_id=49407, bos_token_id=49406,
                            attn_implementation="eager")
    model = CLIPTextModelWithProjection(config).eval()
    hf = {"text_model.embeddings.token_embedding.weight": state["token_embedding.weight"],
          "text_model.embeddings.position_embedding.weight": state["positional_embedding"],
          "text_model.final_layer_norm.weight": state["ln_final.weight"],
          "text_model.final_layer_norm.bias": state["ln_final.bias"],
          "text_projection.weight": state["text_projection"].T}
    for i in range(layers):
        src, dst = f"transformer.resblocks.{i}", f"text_model.encoder.layers.{i}"
        for part, j in (("q", 0), ("k", 1), ("v", 2)):
            hf[f"{dst}.self_attn.{part}_proj.weight"] = state[f"{src}.attn.in_proj_weight"][j * width:(j + 1) * width]
            hf[f"{dst}.self_attn.{part}_proj.bias"] = state[f"{src}.attn.in_proj_bias"][j * width:(j + 1) * width]
        for a, b in (("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"), ("mlp.c_fc", "mlp.fc1"),
                     ("mlp.c_proj", "mlp.fc2"), ("ln_2", "layer_norm2")):
            hf[f"{dst}.{b}.weight"], hf[f"{dst}.{b}.bias"] = state[f"{src}.{a}.weight"], state[f"{src}.{a}.bias"]
    missing, unexpected = model.load_state_dict(hf, strict=False)
    assert not unexpected and all("position_ids" in k for k in missing)
    return model


def test_clip_text_tower_matches_transformers_clip():
    width, layers = 128, 2   # two heads
    state = clip_text_state(width=width, layers=layers, embed=EMBED, seed=3)
    tower = ClipTextTower.from_state_dict(state).eval()
    reference = _hf_clip_text(state, width, layers, EMBED)
    ids = clip_tokenize(list(REFERENCE_IDS) + ["add salt " * 40])
    with torch.no_grad():
        ours = tower(ids) @ state["text_projection"]
        theirs = reference(input_ids=ids).text_embeds
    diff = float((ours - theirs).abs().max())
    assert diff < 1e-5, diff


def test_distilbert_tower_matches_transformers_distilbert(tmp_path):
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizer

    words = ["crack", "the", "eggs", "into", "a", "bowl", "whisk", "fry", "omelet", "cut", "onion"]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\n")
    DistilBertTokenizer(str(vocab)).save_pretrained(tmp_path / "tokenizer")
    state = {**distilbert_state(dim=128, embed=EMBED), **visual_state(width=128, embed=EMBED)}
    path = save_released(tmp_path / "db.pth", state, "CLIP_OPENAI_TIMESFORMER_BASE_DISTILBERT_BASE")
    ckpt = load_lavila(path, tokenizer_dir=tmp_path / "tokenizer")
    assert ckpt.text_kind == "distilbert" and isinstance(ckpt.text_tower, DistilBertTextTower)

    batch = ckpt.tokenize(["crack the eggs into a bowl", "fry the omelet"])
    assert batch["input_ids"].shape == (2, 77) and batch["input_ids"][0, 0] == 2 and batch["input_ids"][1, -1] == 0
    config = DistilBertConfig(vocab_size=120, dim=128, n_layers=2, n_heads=2, hidden_dim=512,
                              max_position_embeddings=80, attn_implementation="eager")
    reference = DistilBertModel(config).eval()
    reference.load_state_dict({k[len("textual."):]: v for k, v in state.items()
                               if k.startswith("textual.") and not k.endswith("position_ids")})
    with torch.no_grad():
        cls = reference(**batch).last_hidden_state[:, 0]
    expected = F.normalize(cls @ state["text_projection"], dim=-1)
    diff = float((ckpt.encode_text(["crack the eggs into a bowl", "fry the omelet"]) - expected).abs().max())
    assert diff < 1e-5, diff


def test_distilbert_without_a_tokenizer_folder_says_so(tmp_path):
    state = {**distilbert_state(), "image_projection": torch.zeros(8, EMBED)}
    ckpt = load_lavila(save_released(tmp_path / "db.pth", state, None, layout="bare"))
    assert ckpt.family == "CLIP_OPENAI_TIMESFORMER_DISTILBERT_BASE" and ckpt.visual is None
    with pytest.raises(VtkitError, match="tokenizer"):
        ckpt.tokenize(["x"])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(alphabet="abcdefgh ijk.,'", min_size=0, max_size=120), min_size=1, max_size=4))
def test_text_embedding_does_not_depend_on_the_batch(texts):
    tower = _small_tower()
    ids = clip_tokenize(texts)
    with torch.no_grad():
        together = tower(ids)
        alone = torch.cat([tower(ids[i:i + 1]) for i in range(len(texts))])
    assert float((together - alone).abs().max()) < 1e-5


_TOWER = {}


def _small_tower():
    if not _TOWER:
        _TOWER["t"] = ClipTextTower.from_state_dict(clip_text_state(width=WIDTH, layers=1)).eval()
    return _TOWER["t"]


def test_block_feed_forward_is_a_replaceable_submodule(clip_ckpt):
    ckpt = load_lavila(clip_ckpt)
    before = ckpt.encode_text(["whisk the eggs"])
    for block in ckpt.text_tower.transformer.resblocks:
        inner = block.mlp
        block.mlp = torch.nn.Sequential(inner, torch.nn.Identity())   # what an adapter wrapper does
    assert torch.allclose(ckpt.encode_text(["whisk the eggs"]), before)
    block.mlp = torch.nn.Sequential(inner, torch.nn.Linear(WIDTH, WIDTH))
    assert not torch.allclose(ckpt.encode_text(["whisk the eggs"]), before)


# ----------------------------------------------------------------------------------------------
# visual tower
# ----------------------------------------------------------------------------------------------

def _loop_reference(state, video, style="openai"):
    """LaViLa's TimeSformer written token by token in float64 (one clip ``[3, T, H, W]``)."""
    s = {k[len("visual."):]: v.double() for k, v in state.items() if k.startswith("visual.")}
    video = video.double()
    width = s["cls_token"].shape[-1]
    heads, patch = width // 64, s["patch_embed.proj.weight"].shape[-1]
    frames, grid = video.shape[1], video.shape[2] // patch
    n = grid * grid
    act = (lambda x: x * torch.sigmoid(1.702 * x)) if style == "openai" else F.gelu

    def ln(x, name, eps):
        return F.layer_norm(x, (width,), s[f"{name}.weight"], s[f"{name}.bias"], eps)

    tokens = [s["cls_token"][0, 0] + s["pos_embed"][0, 0]]
    kernel = s["patch_embed.proj.weight"].reshape(width, -1)
    for f in range(frames):
        for gy in range(grid):
            for gx in range(grid):
                pixels = video[:, f, gy * patch:(gy + 1) * patch, gx * patch:(gx + 1) * patch].reshape(-1)
                e = kernel @ pixels + s.get("patch_embed.proj.bias", 0)
                tokens.append(e + s["pos_embed"][0, 1 + gy * grid + gx] + s["temporal_embed"][0, f])
    x = torch.stack(tokens)
    if "ln_pre.weight" in s:
        x = ln(x, "ln_pre", 1e-5)

    def attention(h, name, over):
        q, k, v = (h @ s[f"{name}.qkv.weight"].T + s[f"{name}.qkv.bias"]).chunk(3, dim=-1)
        out = torch.zeros_like(h)
        d = width // heads
        for head in range(heads):
            cols = slice(head * d, (head + 1) * d)
            qh, kh, vh = q[:, cols] * d ** -0.5, k[:, cols], v[:, cols]
            for j in range(x.shape[0]):
                if j == 0:
                    members = list(range(x.shape[0]))
                else:
                    f, p = divmod(j - 1, n)
                    members = [0] + ([1 + f * n + i for i in range(n)] if over == "space"
                                     else [1 + g * n + p for g in range(frames)])
                weights = torch.softmax(kh[members] @ qh[j], dim=0)
                out[j, cols] = weights @ vh[members]
        return out @ s[f"{name}.proj.weight"].T + s[f"{name}.proj.bias"]

    for b in range(sum(1 for k in s if k.endswith(".norm1.weight"))):
        p = f"blocks.{b}"
        time_out = attention(ln(x, f"{p}.norm3", 1e-6), f"{p}.timeattn", "time")
        if f"{p}.alpha_timeattn" in s:
            time_out = torch.tanh(s[f"{p}.alpha_timeattn"]) * time_out
        space = x + attention(ln(x + time_out, f"{p}.norm1", 1e-6), f"{p}.attn", "space")
        h = ln(space, f"{p}.norm2", 1e-6)
        x = space + act(h @ s[f"{p}.mlp.fc1.weight"].T + s[f"{p}.mlp.fc1.bias"]) @ s[f"{p}.mlp.fc2.weight"].T \
            + s[f"{p}.mlp.fc2.bias"]
    return ln(x[0], "norm", 1e-6)


@pytest.mark.parametrize("style,gated,frames", [("openai", False, 3), ("openai", True, 4), ("hf", False, 2)])
def test_visual_tower_matches_a_token_by_token_reference(style, gated, frames):
    state = visual_state(width=128, depth=2, patch=8, grid=4, frames=4, ln_pre=style == "openai", gated=gated)
    tower = SpaceTimeVisual.from_state_dict(state, style).eval()
    video = torch.randn(2, 3, frames, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ours = tower(video)
    expected = torch.stack([_loop_reference(state, clip, style) for clip in video])
    diff = float((ours.double() - expected).abs().max())
    assert diff < 1e-5, diff


def test_more_frames_than_trained_stretch_the_temporal_embedding():
    tower = SpaceTimeVisual.from_state_dict(visual_state(frames=4)).eval()
    stretched = tower.temporal(8)
    assert stretched.shape == (1, 8, 128)
    expected = F.interpolate(tower.temporal_embed[None], (8, 128), mode="bilinear").squeeze(0)  # LaViLa's rule
    assert torch.equal(stretched, expected)
    with torch.no_grad():
        assert tower(torch.zeros(1, 3, 8, 32, 32)).shape == (1, 128)
    with pytest.raises(VtkitError, match="32x32"):
        tower(torch.zeros(1, 3, 4, 64, 64))


def test_project_video_maps_pre_projection_features(clip_ckpt):
    ckpt = load_lavila(clip_ckpt)
    cls = torch.randn(5, 128)
    assert torch.allclose(project_video(cls, ckpt), cls @ ckpt.image_projection)
    projected = torch.randn(5, EMBED)
    assert torch.equal(project_video(projected, ckpt), projected)
    with pytest.raises(VtkitError, match="D=100"):
        project_video(torch.randn(5, 100), ckpt)
    video = torch.randn(2, 3, 4, 32, 32)
    assert torch.allclose(ckpt.encode_video(video),
                          F.normalize(project_video(ckpt.visual(video), ckpt), dim=-1), atol=1e-6)
