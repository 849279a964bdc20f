"""`intertask train`: prompt-tune one task; `intertask prompts`: inspect and export prompt files.

    intertask train --task trec_coarse --seed 0 --out trec.safetensors
    intertask train --task mcid --seed 0 --init-from trec.safetensors      # prompt transfer
    intertask prompts export trec.safetensors --out trec-peft/              # a PEFT adapter
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add `train` and the `prompts` group (show, export) to `app`."""

    @app.command("train")
    def train_command(
        task: str = typer.Option(..., "--task", help="Task name (toy, offline suite), file, or hf:NAME."),
        seed: int = typer.Option(0, "--seed", help="Seed of the prompt init and the example order."),
        init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from this prompt file (prompt transfer)."),
        backbone: str = typer.Option("minilm", "--backbone", help="minilm | smollm2 | t5:<dir> | a model folder | tiny-*."),
        steps: Optional[int] = typer.Option(None, "--steps", help="Training steps (default: TrainConfig's)."),
        prompt_length: Optional[int] = typer.Option(None, "--prompt-length", help="Prompt tokens (default 20, or the --init-from prompt's)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Examples per step."),
        prompt_lr: Optional[float] = typer.Option(None, "--prompt-lr", help="Learning rate of the prompt."),
        head_lr: Optional[float] = typer.Option(None, "--head-lr", help="Learning rate of the head (encoders)."),
        eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Validate every N steps."),
        patience: Optional[int] = typer.Option(None, "--patience", help="Stop after N validations without improvement."),
        out: Optional[Path] = typer.Option(None, "--out", help="Save the best prompt here (.safetensors)."),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda[:N]."),
        as_json: bool = typer.Option(False, "--json", help="Print the result row as JSON."),
    ) -> None:
        """Prompt-tune one task on a frozen backbone; print validation and test scores."""
        from intertask.progress import progress_bar
        from intertask.training.single_run import train_one

        with progress_bar(not as_json) as callback:
            result = train_one(task, seed=seed, backbone=backbone, init_from=init_from, out=out, device=device,
                               progress=callback, steps=steps, prompt_length=prompt_length,
                               batch_size=batch_size, prompt_lr=prompt_lr, head_lr=head_lr,
                               eval_every=eval_every, patience=patience)
        row = result.to_row()
        row["out"] = None if out is None else str(out)
        if as_json:
            typer.echo(json.dumps(row, indent=1))
            return
        metrics = ", ".join(f"{k} {v:.1f}" for k, v in result.test_metrics.items())
        typer.echo(f"{result.task_name} seed {result.seed} on {result.config.backbone}: validation "
                   f"{result.validation_score:.1f} (best step {result.best_step}/{result.steps}), test {metrics} "
                   f"[{result.seconds:.0f} s]")
        typer.echo(f"prompt saved to {out}" if out is not None else "prompt not saved (pass --out FILE to keep it)")

    prompts = typer.Typer(help="Inspect and export trained prompt files.", no_args_is_help=True)
    app.add_typer(prompts, name="prompts")

    @prompts.command("show")
    def show_command(prompt: Path = typer.Argument(..., help="A prompt .safetensors file.")) -> None:
        """Print a prompt file's metadata (after verifying its checksum)."""
        from intertask.training.artifacts import load_artifact

        art = load_artifact(prompt)
        typer.echo(json.dumps({
            "run_id": art.run_id, "task": art.task_name, "seed": art.seed, "backbone": art.backbone,
            "prompt_shape": list(art.prompt.shape), "best_step": art.best_step,
            "validation_score": art.validation_score, "test_score": art.test_score,
            "snapshots": sorted(art.snapshots), "config": art.config.to_dict(), "sha256": art.sha256,
        }, indent=1))

    @prompts.command("export")
    def export_command(
        prompt: Path = typer.Argument(..., help="A prompt .safetensors file."),
        out: Path = typer.Option(..., "--out", help="New folder for the PEFT adapter."),
    ) -> None:
        """Write a PEFT prompt-tuning adapter that `PeftModel.from_pretrained` loads onto the backbone."""
        from intertask.training.artifacts import export_peft

        typer.echo(f"PEFT adapter written to {export_peft(prompt, out)}")
