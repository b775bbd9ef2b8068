"""CUDA check: train on data_samples on the GPU (mixed precision), reload, align and score; compare with CPU.

    python bench/gpu_check.py [--text-model DIR] [--epochs 3] [--out DIR]

Prints a table (device, wall seconds, pairs/s, val text-to-video R@1, val DP R1@0.3) and exits
non-zero if anything on the GPU fails or produces non-finite numbers. ``--tiny-text-model
TOKENIZER_DIR`` builds a small random BERT with that tokenizer instead of the packaged text model
(for machines without it).
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def tiny_text_model(tokenizer_dir: Path, out: Path) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=256)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def run(device: str, text_model: str, epochs: int, out: Path) -> dict:
    from vtkit.annotations import load_annotations
    from vtkit.config import Config
    from vtkit.features import FeatureStore
    from vtkit.checkpoint import load_model
    from vtkit.predict import predict_split
    from vtkit.metrics import score
    from vtkit.train import train

    data = ROOT / "data_samples"
    cfg = Config(video_root=str(data / "videos"), train_annotations=str(data / "goalstep_train.json"),
                 val_annotations=str(data / "goalstep_val.json"), text_model=text_model, device=device,
                 epochs=epochs, out_dir=str(out / device), text_cache_dir=str(out / "cache"), dfs_node_budget=50_000)
    start = time.perf_counter()
    result = train(cfg, progress=False)
    model = load_model(result.best_checkpoint, cfg)
    on = next(model.parameters()).device.type
    val = load_annotations(cfg.val_annotations)
    preds = predict_split(model, val, FeatureStore(cfg.video_root, chunk_seconds=cfg.chunk_seconds), cfg, ("dp",), progress=False)
    metrics = score(preds.by_aligner["dp"], val.queries())
    best = max(result.history, key=lambda r: r.get("heldout_R1@0.3") or 0)
    row = {"device": device, "model on": on, "seconds": time.perf_counter() - start,
           "pairs/s": result.pairs_per_second, "final train loss": result.history[-1]["train_loss"],
           "val t2v R1": best["heldout_t2v_R1"], "val DP R1@0.3": metrics["R1@0.3"]}
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--text-model", default="all-MiniLM-L6-v2")
    p.add_argument("--tiny-text-model", metavar="TOKENIZER_DIR")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device visible", file=sys.stderr)
        return 1
    warnings.simplefilter("ignore")
    out = Path(args.out or tempfile.mkdtemp(prefix="vtkit_gpu_"))
    text_model = args.text_model
    if args.tiny_text_model:
        text_model = str(tiny_text_model(Path(args.tiny_text_model), out / "tiny_text"))
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, text model {text_model}")
    rows = [run("cuda", text_model, args.epochs, out), run("cpu", text_model, args.epochs, out)]
    keys = list(rows[0])
    print(" | ".join(f"{k:>16}" for k in keys))
    for r in rows:
        print(" | ".join(f"{v:>16.4f}" if isinstance(v, float) else f"{v!s:>16}" for v in r.values()))
    gpu = rows[0]
    ok = gpu["model on"] == "cuda" and all(math.isfinite(gpu[k]) for k in ("final train loss", "val DP R1@0.3"))
    print("GPU check:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
