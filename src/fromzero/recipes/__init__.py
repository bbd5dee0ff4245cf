"""Shipped training recipes: library functions that the CLI commands call.

A run directory's ``model.json`` names its ``task``; ``TASKS`` maps each task to the recipe
module that knows how to evaluate it and predict with it (``evaluate_run``, ``predict_run``).
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ..checkpoint import read_json
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
