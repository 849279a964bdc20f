"""Prompt tuning on a frozen backbone: configs, the packed trainer, prompt artifacts.

    from intertask.training import RunSpec, TrainConfig, train_one, train_packed
"""

from intertask.training.config import HeadInit, OptimizerName, PromptInit, RunResult, RunSpec, TrainConfig
from intertask.training.packed import train_packed
from intertask.training.single_run import train_one

__all__ = ["HeadInit", "OptimizerName", "PromptInit", "RunResult", "RunSpec", "TrainConfig", "train_one",
           "train_packed"]
