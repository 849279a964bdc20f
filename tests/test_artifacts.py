"""Prompt artifacts, PEFT export and the `train` / `prompts` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from intertask.backbones import load_backbone
from intertask.cli import run
from intertask.errors import IntertaskError
from intertask.tasks.toy import toy_task
from intertask.training import RunSpec, TrainConfig, train_packed
from intertask.training.artifacts import export_peft, load_artifact, save_artifact


@pytest.fixture(scope="module")
def result():
    cfg = TrainConfig(backbone="tiny-encoder", prompt_length=5, steps=6, eval_every=3, snapshot_steps=(0, 3))
    return train_packed([RunSpec("r", toy_task("toy_topic2", 32, 16), cfg)], load_backbone("tiny-encoder"))[0]


def test_round_trip(tmp_path, result):
    path = tmp_path / "sub" / "p.safetensors"
    checksum = save_artifact(path, result, "tiny-encoder")
    art = load_artifact(path, expect_backbone="tiny-encoder")
    assert art.sha256 == checksum and art.backbone == "tiny-encoder" and art.hidden_size == 32
    assert torch.equal(art.prompt, result.prompt) and art.config == result.config
    assert sorted(art.snapshots) == [0, 3] and torch.equal(art.snapshots[3], result.snapshots[3])
    assert set(art.head) == {"weight", "bias"} and torch.equal(art.head["weight"], result.head["weight"])
    assert art.validation_score == result.validation_score and art.history == result.history
    assert [p.name for p in path.parent.iterdir()] == ["p.safetensors"]  # no temp files left


def test_bad_files(tmp_path, result):
    path = tmp_path / "p.safetensors"
    save_artifact(path, result, "tiny-encoder")
    with pytest.raises(IntertaskError, match="backbone 'minilm' does not fit .*: it holds a prompt for backbone "
                                             "'tiny-encoder'"):
        load_artifact(path, expect_backbone="minilm")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # flip bits inside the tensor data
    corrupted = tmp_path / "corrupted.safetensors"
    corrupted.write_bytes(bytes(data))
    with pytest.raises(IntertaskError, match="fails its checksum"):
        load_artifact(corrupted)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:40])
    with pytest.raises(IntertaskError, match="not a readable safetensors file"):
        load_artifact(truncated)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"prompt": torch.zeros(2, 3)}, str(foreign))
    with pytest.raises(IntertaskError, match="no intertask metadata"):
        load_artifact(foreign)
    with pytest.raises(IntertaskError, match="does not exist"):
        load_artifact(tmp_path / "missing.safetensors")


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_peft_export_loads_the_same_prompt(tmp_path, result):
    from peft import PeftModel

    path = tmp_path / "p.safetensors"
    save_artifact(path, result, "tiny-encoder")
    out = export_peft(path, tmp_path / "adapter")
    assert {"adapter_config.json", "adapter_model.safetensors", "intertask_head.safetensors"} <= {p.name for p in out.iterdir()}
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "PROMPT_TUNING" and config["num_virtual_tokens"] == 5 and config["token_dim"] == 32
    fresh = load_backbone("tiny-encoder")
    peft_model = PeftModel.from_pretrained(load_backbone("tiny-encoder").model, str(out))
    assert torch.equal(peft_model.prompt_encoder["default"].embedding.weight, result.prompt)
    enc = fresh.tokenizer(["good pizza and a song"], return_tensors="pt")
    with torch.no_grad():
        hidden = peft_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    np.testing.assert_allclose(hidden[0, 5:].mean(0).numpy(), fresh.features(["good pizza and a song"], prompt=result.prompt)[0],
                               atol=1e-5)  # PEFT reads the text exactly as intertask does
    with pytest.raises(IntertaskError, match="not empty"):
        export_peft(path, out)


def _train(tmp_path, *extra):
    return run(["train", "--task", "toy_topic2", "--backbone", "tiny-encoder", "--steps", "6", "--eval-every", "3", *extra])


def test_cli_train_transfer_and_export(tmp_path, capsys):
    source = tmp_path / "source.safetensors"
    assert _train(tmp_path, "--prompt-length", "6", "--out", str(source), "--json") == 0
    row = json.loads(capsys.readouterr().out)
    assert row["task_name"] == "toy_topic2" and row["out"] == str(source) and 0 <= row["test_score"] <= 100
    assert load_artifact(source).prompt.shape == (6, 32)
    assert run(["train", "--task", "toy_topic4", "--backbone", "tiny-encoder", "--steps", "3", "--eval-every", "3",
                "--init-from", str(source)]) == 0  # prompt length taken from the source prompt
    out = capsys.readouterr().out
    assert "toy_topic4 seed 0 on tiny-encoder: validation" in out and "not saved" in out
    assert run(["prompts", "show", str(source)]) == 0
    assert json.loads(capsys.readouterr().out)["prompt_shape"] == [6, 32]
    assert run(["prompts", "export", str(source), "--out", str(tmp_path / "adapter")]) == 0
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()


def test_cli_bad_input_writes_nothing(tmp_path, capsys):
    source = tmp_path / "source.safetensors"
    assert _train(tmp_path, "--prompt-length", "6", "--out", str(source)) == 0
    out = tmp_path / "never.safetensors"
    corrupted = tmp_path / "corrupted.safetensors"
    data = bytearray(source.read_bytes())
    data[-1] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    capsys.readouterr()
    cases = [
        (["--backbone", "tiny-encodr"], "unknown backbone 'tiny-encodr'"),
        (["--init-from", str(source), "--prompt-length", "4"], r"needs \[4, 32\]"),
        (["--init-from", str(corrupted)], "fails its checksum"),
        (["--steps", "0"], "steps must be a positive integer"),
        (["--out", str(tmp_path / "never.txt")], r"must be a file name ending in \.safetensors"),
        (["--out", str(source / "never.safetensors")], "source.safetensors is a file, not a folder"),
    ]
    for extra, message in cases:
        argv = ["train", "--task", "toy_topic2", "--backbone", "tiny-encoder", "--out", str(out), *extra]
        assert run(argv) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and __import__("re").search(message, err)
        assert not out.exists()
    assert run(["train", "--task", "no_such_task", "--backbone", "tiny-encoder", "--out", str(out)]) == 2
    assert run(["prompts", "export", str(corrupted), "--out", str(tmp_path / "a")]) == 2
    assert not out.exists() and not (tmp_path / "a").exists()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_peft_export_on_minilm(tmp_path):
    from peft import PeftModel
    from transformers import AutoModel, AutoTokenizer

    from intertask.assets import minilm_dir

    minilm = load_backbone("minilm")
    cfg = TrainConfig(prompt_length=3, steps=2, batch_size=4, eval_every=2, max_eval_examples=4)
    result = train_packed([RunSpec("m", toy_task("toy_topic2", 8, 4), cfg)], minilm)[0]
    save_artifact(tmp_path / "m.safetensors", result, "minilm")
    out = export_peft(tmp_path / "m.safetensors", tmp_path / "adapter", backbone=load_backbone("minilm"))
    peft_model = PeftModel.from_pretrained(AutoModel.from_pretrained(minilm_dir()), str(out))
    enc = AutoTokenizer.from_pretrained(minilm_dir())(["a song about pizza"], return_tensors="pt")
    with torch.no_grad():
        hidden = peft_model(**{k: enc[k] for k in ("input_ids", "attention_mask")}).last_hidden_state
    np.testing.assert_allclose(hidden[0, 3:].mean(0).numpy(), minilm.features(["a song about pizza"], prompt=result.prompt)[0],
                               atol=1e-4)
