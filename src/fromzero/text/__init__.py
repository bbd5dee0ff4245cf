"""Text for language models: tokenizers (character level, byte-level BPE) and token streams."""
from .data import BUILTIN, RandomWindows, TokenCorpus, eval_batches, load_corpus, train_tokenizer
from .tokenizer import BPETokenizer, CharTokenizer, load_tokenizer, save_tokenizer

__all__ = ["BUILTIN", "RandomWindows", "TokenCorpus", "eval_batches", "load_corpus", "train_tokenizer",
           "BPETokenizer", "CharTokenizer", "load_tokenizer", "save_tokenizer"]
