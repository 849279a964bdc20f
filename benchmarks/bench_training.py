"""Training throughput: intertask (one run, packed runs) vs PEFT prompt tuning + HF Trainer.

Every variant trains the same backbone on the same task, batch size and prompt length, and is
timed over the same number of steps after a warm-up step; examples/s counts training examples
of all runs. Printed as ratios from this one process, side by side, so machine noise cancels as
far as it can (other processes on the machine still matter: run it on an idle machine).

    (a) one run at a time          train_packed([spec])
    (b) packed runs                train_packed([spec_1 .. spec_R]) for R in --packed
    (c) PEFT + Trainer, padded     PromptTuningConfig + AutoModelForSequenceClassification,
                                   texts padded to max_length (the usual recipe)
    (d) PEFT + Trainer, dynamic    the same with DataCollatorWithPadding

    OMP_NUM_THREADS=2 python benchmarks/bench_training.py --task trec_coarse --steps 12
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings


def _load_task(name: str):
    try:
        from intertask.tasks.registry import get_task

        return get_task(name, progress=False)
    except Exception as err:  # noqa: BLE001  (a benchmark falls back to a toy task and says so)
        from intertask.tasks.toy import toy_task

        print(f"(could not load {name!r}: {err}; using toy_topic4)")
        return toy_task("toy_topic4", n_train=512, n_eval=16)


def bench_intertask(task, backbone, runs: int, steps: int, batch_size: int, prompt_length: int, max_length: int) -> float:
    """Training examples/s of `runs` packed runs over steps 2..steps (step 1 is warm-up)."""
    from intertask.training import RunSpec, TrainConfig, train_packed

    specs = [RunSpec(f"r{i}", task, TrainConfig(backbone=backbone.name, steps=steps, batch_size=batch_size,
                                                prompt_length=prompt_length, max_length=max_length,
                                                eval_every=steps, max_eval_examples=1, seed=i))
             for i in range(runs)]
    stamps = {}

    def progress(event: str, done: int, total: int) -> None:
        if event == "train":
            stamps[done] = time.perf_counter()

    train_packed(specs, backbone, device=str(backbone.device), progress=progress)
    # the last step also runs the (one-example) validation; subtract nothing, it is tiny
    return runs * batch_size * (steps - 1) / (stamps[steps] - stamps[1])


def bench_peft_trainer(task, model_dir: str, steps: int, batch_size: int, prompt_length: int, max_length: int,
                       dynamic: bool) -> float:
    """Training examples/s of PEFT prompt tuning with the Hugging Face Trainer over steps 2..steps."""
    import torch
    from datasets import Dataset
    from peft import PromptTuningConfig, TaskType, get_peft_model
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainerCallback, TrainingArguments)

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=max(2, task.num_labels))
    model = get_peft_model(model, PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=prompt_length))
    padding = False if dynamic else "max_length"
    data = Dataset.from_dict({"text": [ex.text for ex in task.train], "label": [int(ex.label) for ex in task.train]})
    data = data.map(lambda b: tokenizer(b["text"], truncation=True, max_length=max_length, padding=padding),
                    batched=True, remove_columns=["text"])
    stamps = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch_size, max_steps=steps,
                                 learning_rate=0.1, logging_strategy="no", save_strategy="no", report_to=[],
                                 use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available(),
                                 dataloader_num_workers=0, seed=0,
                                 disable_tqdm=True)
        collator = DataCollatorWithPadding(tokenizer) if dynamic else None
        Trainer(model=model, args=args, train_dataset=data, data_collator=collator, callbacks=[Stamp()]).train()
    return batch_size * (len(stamps) - 1) / (stamps[-1] - stamps[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="trec_coarse", help="A suite task (real lengths) or a toy task.")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--prompt-length", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--packed", default="4,8", help="Numbers of packed runs to time.")
    parser.add_argument("--repeats", type=int, default=2, help="Rounds over all variants; each keeps its best.")
    args = parser.parse_args()

    import datasets
    import numpy as np
    import torch
    import transformers

    transformers.logging.set_verbosity_error()  # a benchmark's output is its table
    transformers.logging.disable_progress_bar()
    warnings.simplefilter("ignore", FutureWarning)
    datasets.disable_progress_bars()
    from intertask.assets import minilm_dir
    from intertask.backbones import load_backbone

    task = _load_task(args.task)
    backbone = load_backbone("minilm", device="cuda" if torch.cuda.is_available() else "cpu")
    lengths = [len(t.ids) for t in backbone.tokenize([ex.text for ex in task.train], max_length=args.max_length)]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, torch {torch.__version__}")
    print(f"task {task.name}: {len(task.train)} train examples, tokens mean {np.mean(lengths):.1f}, "
          f"p90 {np.percentile(lengths, 90):.0f}, max {max(lengths)}; MiniLM, batch {args.batch_size}, "
          f"prompt {args.prompt_length}, max_length {args.max_length}, {args.steps} steps")
    common = dict(steps=args.steps, batch_size=args.batch_size, prompt_length=args.prompt_length, max_length=args.max_length)
    variants = {"intertask, 1 run": lambda: bench_intertask(task, backbone, 1, **common)}
    for runs in (int(r) for r in args.packed.split(",") if r):
        variants[f"intertask, {runs} runs packed"] = lambda runs=runs: bench_intertask(task, backbone, runs, **common)
    variants["PEFT + Trainer, pad to max_length"] = lambda: bench_peft_trainer(task, str(minilm_dir()), dynamic=False, **common)
    variants["PEFT + Trainer, dynamic padding"] = lambda: bench_peft_trainer(task, str(minilm_dir()), dynamic=True, **common)
    best = {name: 0.0 for name in variants}
    for _ in range(args.repeats):  # interleaved rounds: a busy moment hurts one round, not one variant
        for name, measure in variants.items():
            best[name] = max(best[name], measure())
    baseline = best["PEFT + Trainer, pad to max_length"]
    print(f"{'variant':<36}{'examples/s':>12}{'vs PEFT padded':>16}")
    for name, speed in best.items():
        print(f"{name:<36}{speed:>12.1f}{speed / baseline:>15.2f}x")


if __name__ == "__main__":
    main()
