"""Backbones: tiny test models, loading by name or folder, features, answer scoring, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intertask.backbones import load_backbone
from intertask.errors import IntertaskError
from intertask.tasks.toy import TOY_TASKS, toy_task

TINY = {"tiny-encoder": "encoder", "tiny-decoder": "decoder", "tiny-t5": "seq2seq"}


@pytest.fixture(scope="module", params=list(TINY))
def tiny(request):
    return load_backbone(request.param)


def test_tiny_backbones_are_frozen_deterministic_and_leave_the_rng_alone(tiny):
    assert tiny.kind == TINY[tiny.name] and tiny.hidden_size == 32
    assert not any(p.requires_grad for p in tiny.parameters())
    tiny.train()
    assert not tiny.training and not tiny.model.training
    state = torch.random.get_rng_state()
    again = load_backbone(tiny.name)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, a), (_, b) in zip(tiny.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert tiny.input_embeddings().shape == (len(tiny.tokenizer), 32)


def test_tiny_vocabulary_covers_the_toy_tasks(tiny):
    unk = tiny.tokenizer.unk_token_id
    for name in TOY_TASKS:
        task = toy_task(name, n_train=50, n_eval=5, seed=3)
        ids = [i for t in tiny.tokenize([ex.text for ex in task.train]) for i in t.ids]
        assert unk not in ids, name
        if tiny.kind != "encoder":  # encoders classify with a head; text-to-text models spell the answers
            assert all(unk not in a for a in tiny.tokenize_answers(list(task.labels))), name


def test_features_shape_prompt_and_batching(tiny):
    texts = ["the good pizza was great", "a song", "bad team on the beach with a very long and dull match"]
    plain = tiny.features(texts)
    assert plain.shape == (3, 32) and plain.dtype == np.float32 and np.isfinite(plain).all()
    prompt = torch.randn(4, 32, generator=torch.Generator().manual_seed(0))
    prompted = tiny.features(texts, prompt=prompt)
    assert not np.allclose(plain, prompted)
    # dynamic padding must not change the result: one at a time == all together
    np.testing.assert_allclose(tiny.features(texts, prompt=prompt.numpy(), batch_size=1), prompted, atol=1e-5)
    with pytest.raises(IntertaskError, match=r"needs \[P, 32\]"):
        tiny.features(texts, prompt=torch.zeros(4, 31))


def test_text_to_text_answer_logprob_matches_the_model():
    decoder = load_backbone("tiny-decoder")
    ctx = decoder.tokenize(["the good pizza"])[0]
    answer = decoder.tokenize_answers(["positive"])[0] + decoder.tokenize_answers(["negative"])[0]
    logprob, count = decoder.answer_logprob([None], [ctx], [answer])
    ids = torch.tensor([ctx.ids + answer])
    lp = decoder.model(input_ids=ids).logits.log_softmax(-1)[0]
    manual = sum(lp[len(ctx.ids) + j - 1, tok] for j, tok in enumerate(answer))
    assert count.item() == 2 and logprob.item() == pytest.approx(manual.item(), abs=1e-4)

    t5 = load_backbone("tiny-t5")
    ctx = t5.tokenize(["the good pizza"])[0]
    answer = t5.tokenize_answers(["positive"])[0]
    logprob, count = t5.answer_logprob([None], [ctx], [answer])
    loss = t5.model(input_ids=torch.tensor([ctx.ids]), labels=torch.tensor([answer])).loss
    assert logprob.item() == pytest.approx(-loss.item() * count.item(), abs=1e-4)


def test_local_folders_load_with_their_kind(tmp_path):
    for name, prefix in (("tiny-encoder", ""), ("tiny-t5", "t5:"), ("tiny-decoder", "decoder:")):
        source = load_backbone(name)
        folder = tmp_path / name
        source.model.save_pretrained(folder)
        source.tokenizer.save_pretrained(folder)
        loaded = load_backbone(prefix + str(folder))
        assert loaded.kind == source.kind and loaded.name == prefix + str(folder)
        np.testing.assert_allclose(loaded.features(["good pizza"]), source.features(["good pizza"]), atol=1e-5)
    assert load_backbone(str(tmp_path / "tiny-t5")).kind == "seq2seq"  # kind read from config.json


def test_unknown_or_missing_backbones():
    with pytest.raises(IntertaskError, match="unknown backbone 'minilmm' .did you mean: minilm"):
        load_backbone("minilmm")
    with pytest.raises(IntertaskError, match="cannot load backbone 't5:/nonexistent/t5'"):
        load_backbone("t5:/nonexistent/t5")
    if not torch.cuda.is_available():
        with pytest.raises(IntertaskError, match="device 'cuda' is not available"):
            load_backbone("tiny-encoder", device="cuda")


@pytest.mark.slow
def test_minilm_features():
    minilm = load_backbone("minilm")
    assert minilm.kind == "encoder" and minilm.hidden_size == 384
    f = minilm.features(["a great film", "a wonderful movie", "the stock market fell"])
    cos = f @ f.T / np.outer(np.linalg.norm(f, axis=1), np.linalg.norm(f, axis=1))
    assert cos[0, 1] > cos[0, 2]  # a real sentence encoder: paraphrases are closer


@pytest.mark.slow
def test_smollm2_converts_once_and_ranks_answers():
    smol = load_backbone("smollm2")
    assert smol.kind == "decoder" and smol.hidden_size == 576
    ctx = smol.tokenize(["Question: What is the capital of France?"] * 2)
    logprob, _ = smol.answer_logprob([None, None], ctx, smol.tokenize_answers(["Paris", "banana"]))
    assert logprob[0] > logprob[1]
