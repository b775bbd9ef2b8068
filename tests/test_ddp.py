"""Two gloo processes (torchrun) train the same model as one process on the same global batches.

Tolerance: parameters equal the single-process run within atol 5e-5 (the gradient is summed over ranks
instead of over one batch, so float rounding differs, and Adam scales it up where gradients are tiny);
across ranks they are bitwise equal.
"""
import json
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

from vtkit.config import Config
from vtkit.train import train

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with gloo is not available")

SCRIPT = """
import json, os, sys
import torch.distributed as dist
from safetensors.torch import save_file
from vtkit.config import Config
from vtkit.train import train
dist.init_process_group("gloo")   # once for both runs (train() leaves a group it did not create alone)
for params in json.loads(sys.argv[1]):
    result = train(Config.from_dict(params), progress=False)
    rank = os.environ["RANK"]
    save_file({k: v.contiguous() for k, v in result.model.trainable_state_dict().items()},
              os.path.join(params["out_dir"], f"rank{rank}.safetensors"))
dist.destroy_process_group()
"""


def test_two_processes_match_one(tiny_samples, tmp_path):
    base = dict(video_root=str(tiny_samples / "videos"), train_annotations=str(tiny_samples / "goalstep_train.json"),
                val_annotations=str(tiny_samples / "goalstep_val.json"), text_cache_dir=str(tmp_path / "cache"), feature_cache_dir=str(tmp_path / "features"),
                batch_size=33, epochs=2, max_steps_per_epoch=4, early_stop_patience=0, device="cpu")  # 33: uneven split
    runs = [{**base, "loss": loss, "out_dir": str(tmp_path / f"ddp_{loss}")} for loss in ("infonce", "clip")]
    (tmp_path / "ddp.py").write_text(SCRIPT)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(tmp_path / "ddp.py"), json.dumps(runs)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for params in runs:
        out = tmp_path / f"ddp_{params['loss']}"
        r0, r1 = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
        assert all(torch.equal(r0[k], r1[k]) for k in r0), params["loss"]
        single = train(Config.from_dict({**params, "out_dir": str(tmp_path / f"single_{params['loss']}")}),
                       progress=False)
        ref = single.model.trainable_state_dict()
        for k in ref:
            torch.testing.assert_close(r0[k], ref[k], atol=5e-5, rtol=0, msg=f"{params['loss']} {k}")
        ddp_rows = json.loads((out / "checkpoints" / "last.json").read_text())["history"]
        for a, b in zip(ddp_rows[1:], single.history[1:]):
            assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
