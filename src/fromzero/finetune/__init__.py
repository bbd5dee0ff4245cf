"""Fine-tuning (tutorial 1.2.6, pre-trained models): a pre-trained GPT plus a task head, trained
through the same ``Trainer`` as everything else.

    model.py    GPTClassifier: GPT backbone, mean/last-token pooling, linear head
    lora.py     LoRA adapters on linear layers, and merging them back into the weights
    params.py   freezing parts; discriminative (layer-wise) learning rates; parameter counts
    data.py     token sequences of labelled texts, padded batches

The recipe (``fromzero finetune``) is ``fromzero.recipes.finetune``; the labelled-text reader
is ``fromzero.text.labelled``.
"""
from .data import PaddedBatches, encode_texts
from .lora import LoRAEmbedding, LoRALinear, add_lora, merge_lora
from .model import ClassifierConfig, GPTClassifier
from .params import count_params, freeze, param_groups

__all__ = ["GPTClassifier", "ClassifierConfig", "LoRALinear", "LoRAEmbedding", "add_lora", "merge_lora", "freeze",
           "param_groups", "count_params", "PaddedBatches", "encode_texts"]
