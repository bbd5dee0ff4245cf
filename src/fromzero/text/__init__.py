"""Text for language models: tokenizers (character level, byte-level BPE) and token streams.

The names below load on first use, so that ``fromzero.text.normalize`` (torch-free) can be imported
without torch: the NumPy GPT of ``fromzero.scratch`` reads its text through it.
"""
import importlib

_WHERE = {**dict.fromkeys(("BUILTIN", "RandomWindows", "TokenCorpus", "eval_batches", "load_corpus",
                           "train_tokenizer"), "data"),
          **dict.fromkeys(("BPETokenizer", "CharTokenizer", "load_tokenizer", "save_tokenizer"), "tokenizer")}

__all__ = list(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)   # lazy: torch loads here
    globals()[name] = value
    return value
