"""Prompt tuning on a frozen backbone: configs, the packed trainer, prompt artifacts.

    from intertask.training import RunSpec, TrainConfig, train_one, train_packed

Names are imported on first use, so importing a config (`intertask.training.config`) loads no torch.
"""

_EXPORTS = {
    "HeadInit": "config", "OptimizerName": "config", "PromptInit": "config", "RunResult": "config",
    "RunSpec": "config", "TrainConfig": "config", "train_packed": "packed", "train_one": "single_run",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'intertask.training' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"intertask.training.{_EXPORTS[name]}"), name)
