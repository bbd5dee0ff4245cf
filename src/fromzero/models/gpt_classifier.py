"""The GPT sequence classifier (fine-tuning) lives in ``fromzero.finetune``; importing it here
registers it with the model registry, so that ``load_model`` finds ``"gpt-classifier"`` runs."""
from ..finetune.model import ClassifierConfig, GPTClassifier

__all__ = ["ClassifierConfig", "GPTClassifier"]
