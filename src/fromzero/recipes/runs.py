"""Evaluate and predict with any saved run: its ``model.json`` names the task, ``TASKS`` the recipe.

Each recipe module in ``TASKS`` defines ``evaluate_run(run_dir, data_dir=None, device="auto")`` and
``predict_run(run_dir, inputs, device="auto", top=...)``; it is imported when a run of its task is
used (the table holds module names, so this module stays light).
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ..io import read_json
from ..errors import CheckpointError

TASKS = {"image-classification": "fromzero.recipes.images",
         "forecast": "fromzero.recipes.forecast",
         "language-modeling": "fromzero.recipes.gpt",
         "rnn-text-classification": "fromzero.recipes.rnn_text",
         "text-classification": "fromzero.recipes.finetune"}


def recipe_for(run_dir):
    spec = read_json(Path(run_dir) / "model.json")
    task = spec.get("task")
    if task not in TASKS:
        raise CheckpointError(f"{run_dir}: model.json has task {task!r}; expected one of: "
                              f"{', '.join(TASKS)}")
    return importlib.import_module(TASKS[task])


def evaluate_run(run_dir, **kwargs) -> dict:
    """Evaluate a saved run on its task's test data (``fromzero evaluate RUN``)."""
    return recipe_for(run_dir).evaluate_run(run_dir, **kwargs)


def predict_run(run_dir, inputs, **kwargs):
    """Predict with a saved run (``fromzero predict RUN INPUT``)."""
    return recipe_for(run_dir).predict_run(run_dir, inputs, **kwargs)
