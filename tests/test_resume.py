"""Killing training mid-epoch (SIGKILL) and resuming gives exactly the uninterrupted run (CPU)."""
import json
import math
import os
import signal
import subprocess
import sys

import torch
from safetensors.torch import load_file

from vtkit.config import Config
from vtkit.train import KILL_AT_STEP_ENV, train


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tiny_samples, tmp_path):
    params = dict(video_root=str(tiny_samples / "videos"), train_annotations=str(tiny_samples / "goalstep_train.json"),
                  val_annotations=str(tiny_samples / "goalstep_val.json"), text_cache_dir=str(tmp_path / "cache"), feature_cache_dir=str(tmp_path / "features"),
                  batch_size=16, epochs=3, early_stop_patience=0, device="cpu")
    full = train(Config.from_dict({**params, "out_dir": str(tmp_path / "full")}), progress=False)
    per_epoch = full.history[1]["step"]

    out = tmp_path / "killed"
    argv = [sys.executable, "-m", "vtkit", "train", "--quiet"]
    for key, value in {**params, "out_dir": str(out)}.items():
        argv += ["-p", f"{key}={value}"]
    env = {**os.environ, KILL_AT_STEP_ENV: str(per_epoch + per_epoch // 2)}   # the middle of epoch 2
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    last = json.loads((out / "checkpoints" / "last.json").read_text())
    assert last["epoch"] == 1 and last["global_step"] == per_epoch

    resumed = train(Config.from_dict({**params, "out_dir": str(out), "resume": True}), progress=False)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]   # noqa: E731
    assert len(strip(resumed.history)) == 4
    assert all(a == b or (math.isnan(a) and math.isnan(b)) for ra, rb in zip(strip(resumed.history), strip(full.history))
               for a, b in zip(ra.values(), rb.values()))
    for name in ("last.safetensors", "last.optim.safetensors", "best.safetensors"):
        a, b = load_file(str(full.last_checkpoint.parent / name)), load_file(str(out / "checkpoints" / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert resumed.best_metric == full.best_metric
    assert resumed.start == full.start == "ridge start"   # the resumed run names its epoch 0 as the first did
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert not leftovers
    for state in (out / "checkpoints").glob("*.json"):
        json.loads(state.read_text())
