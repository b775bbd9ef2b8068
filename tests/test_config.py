"""One configuration: names are the notebooks' parameters, validated once with one-line errors."""
import pytest

from vtkit.config import Config, parse_overrides
from vtkit.errors import VtkitError


def test_defaults_are_valid_and_round_trip():
    cfg = Config()
    cfg.validate()
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(lr=0.5).lr == 0.5 and cfg.lr == 3e-4


def test_text_values_are_coerced_to_the_field_types():
    cfg = Config.from_dict({"lr": "0.01", "epochs": "3", "max_len": "none", "resume": "true",
                            "dfs_node_budget": "1e3", "skip_penalty": 2, "text_model": "1e3"})
    assert (cfg.lr, cfg.epochs, cfg.max_len, cfg.resume) == (0.01, 3, None, True)
    assert cfg.dfs_node_budget == 1000 and cfg.skip_penalty == 2.0 and cfg.text_model == "1e3"


@pytest.mark.parametrize("values, words", [
    ({"negative_ration": 2}, ["negative_ration", "did you mean negative_ratio?"]),
    ({"epochs": "many"}, ["epochs", "int"]),
    ({"epochs": 2.5}, ["epochs", "int"]),
    ({"resume": 1}, ["resume", "bool"]),
    ({"lr": 0}, ["lr", "> 0"]),
    ({"aligner": "viterbi"}, ["aligner", "dp, dfs"]),
    ({"min_len": 4, "max_len": 2}, ["max_len", "below min_len"]),
    ({"background_value": 120.0}, ["background_value", "[0, 100]"]),
    ({"substep_background_value": -5.0}, ["substep_background_value", "[0, 100]"]),
    ({"clip_alpha": 1.5}, ["clip_alpha", "[0, 1]"]),
    ({"max_videos": 0}, ["max_videos", "> 0"]),
    ({"negative_chunks": -1}, ["negative_chunks", ">= 0"]),
    ({"projection_init": "zeros"}, ["projection_init", "ridge, random"]),
])
def test_bad_values_fail_with_one_line(values, words):
    with pytest.raises(VtkitError) as err:
        Config.from_dict(values, source="params.yaml")
    msg = str(err.value)
    assert msg.startswith("params.yaml") and "\n" not in msg
    for w in words:
        assert w in msg


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("epochs: 2\naligner: dfs\n")
    cfg = Config.from_yaml(path, parse_overrides(["epochs=5", "max_len=null"]))
    assert (cfg.epochs, cfg.aligner, cfg.max_len) == (5, "dfs", None)
    path.write_text("- a list\n")
    with pytest.raises(VtkitError, match="p.yaml: expected a mapping"):
        Config.from_yaml(path)
    with pytest.raises(VtkitError, match="key=value"):
        parse_overrides(["epochs"])


def test_from_namespace_picks_only_config_names():
    cfg = Config.from_namespace({"epochs": 2, "np": object(), "out_dir": "x"})
    assert cfg.epochs == 2 and cfg.out_dir == "x"


def test_paths(tmp_path):
    cfg = Config(out_dir=str(tmp_path))
    assert cfg.checkpoint_path() == tmp_path / "checkpoints" / "best.safetensors"
    assert cfg.replace(checkpoint="w.safetensors").checkpoint_path().name == "w.safetensors"
    with pytest.raises(VtkitError, match="video_root: path does not exist"):
        Config(video_root=str(tmp_path / "nope")).check_paths()


def test_command_line_text_is_typed_by_its_field():
    cfg = Config.from_dict(parse_overrides(["out_dir=2024", "text_cache_dir=off", "epochs=3", "lr=1e-4"]))
    assert (cfg.out_dir, cfg.text_cache_dir, cfg.epochs, cfg.lr) == ("2024", "off", 3, 1e-4)
    assert Config.from_dict({"out_dir": 2024}).out_dir == "2024"
