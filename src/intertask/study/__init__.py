"""The transfer study: plan the source × target × seed grid, train it resumably, read it back.

    from intertask.study import run_study, transfer_matrix
    run_study("configs/quickstart.toml", "runs/quickstart")
    transfer_matrix("runs/quickstart")   # target, source, seed, score, baseline, gain, relative_gain

Modules: `config` (StudyConfig from TOML), `plan` (runs and their ids), `store` (SQLite +
safetensors), `executors` (local, Ray), `runner` (run_study, study_status), `export`.
Names are imported on first use, so importing this package stays light.
"""

_EXPORTS = {
    "StudyConfig": "config", "PlannedRun": "plan", "plan_study": "plan", "Store": "store",
    "LocalExecutor": "executors", "RayExecutor": "executors", "run_study": "runner",
    "study_status": "runner", "transfer_matrix": "export", "run_table": "export", "export_study": "export",
    "read_study": "export", "StudyView": "export",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'intertask.study' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"intertask.study.{_EXPORTS[name]}"), name)
