"""Tasks: the `Task` data type, loaders for files and `datasets`, the offline suite, metrics, lookup.

`get_task(spec)` is the entry point; see `intertask.tasks.registry`.
"""

from intertask.tasks.registry import get_task, list_tasks, load_task
from intertask.tasks.task import SPLITS, Example, Task, TaskKind
from intertask.tasks.toy import TOY_TASKS, toy_task

__all__ = ["SPLITS", "Example", "Task", "TaskKind", "TOY_TASKS", "get_task", "list_tasks", "load_task", "toy_task"]
