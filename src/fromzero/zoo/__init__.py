"""The model zoo: every preset and family with its task, size, training FLOPs, training memory and
the throughput measured on this machine (``fromzero models``).

Parameters are counted from the config (``gpt_params``; tests/test_zoo.py checks the count
against the built model). Training FLOPs per token of a GPT are the PaLM/nanoGPT estimate
``6N + 12·L·C·T`` (``gpt_flops_per_token``): 2N multiply-adds forward and 4N backward for the
N weights of the matrix products, plus attention's QKᵀ and AV (``4·T·C`` per layer forward, twice
that backward). The CNN's are counted per image from its layers.

Training memory (``training_memory``) is split the way it is spent:

* parameters: 4 bytes each (fp32 masters, also under bf16 autocast);
* gradients: 4 bytes per trainable parameter;
* optimizer state: AdamW keeps two fp32 moments (and a 4-byte step per tensor); Muon one momentum
  per hidden matrix, AdamW's two for the rest (``fromzero.recipes.configs`` names each recipe's);
* activations: what autograd saves for the backward pass, from the GPT's own ops with the
  kernels the recipes apply (``gpt_activation_bytes``: per token and block, fp32, ReLU²,
  no QK-norm: the norms' two inputs, three matrix-product inputs, the qkv output, the rotated
  q and k, the MLP's hidden layer (once: ``ReLUSquaredLinear``): ``14·C`` values, plus the
  attention's log-sum-exp and the norms' statistics; on top the log-probabilities of the
  vocabulary); other families are counted from one forward pass (``saved_bytes``);
* workspace: the gradient of the logits and of the log-probabilities, alive together at the
  start of the backward pass.

Under FSDP with N GPUs parameters, gradients and optimizer state are sharded (divided by N);
activations and workspace are not, and each GPU holds one gathered block at a time.

Example:
    >>> card = next(c for c in cards() if c.name == "gpt/shakespeare-char")
    >>> card.params
    795904
    >>> round(training_memory(card).total / 2**20, 1)       # MiB at the recipe's batch 12 x 64
    37.2
"""
from __future__ import annotations

from .cards import (FP32, Card, Memory, cards, conv_flops, find_card, gpt_activation_bytes, gpt_flops_per_token,
                    gpt_optimizer_bytes, gpt_params, optimizer_bytes, saved_bytes, training_memory,
                    TEXT_RNN_LEN, TEXT_RNN_VOCAB)
from .measure import (cache_file, cached_throughput, format_table, json_table, measure_throughput, read_cache,
                      run_measured, torch_baseline_rss, write_cache, zoo_table)

__all__ = ["Card", "Memory", "cards", "find_card", "gpt_params", "gpt_flops_per_token", "conv_flops",
           "gpt_activation_bytes", "gpt_optimizer_bytes", "optimizer_bytes", "saved_bytes", "training_memory",
           "measure_throughput", "cached_throughput", "cache_file", "read_cache", "write_cache", "zoo_table",
           "format_table", "json_table", "run_measured", "torch_baseline_rss", "FP32", "TEXT_RNN_LEN", "TEXT_RNN_VOCAB"]
