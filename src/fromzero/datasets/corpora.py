"""The built-in text corpora: name -> embedded file, SHA-256 and where it comes from.

Read by ``fromzero.text.data`` (the PyTorch pipeline) and by ``fromzero.scratch.chars`` (the NumPy
GPT, which never imports torch): one table for both.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Builtin:
    name: str
    file: str       # under the package's _data folder
    sha256: str
    about: str


BUILTIN = {
    "shakespeare": Builtin("shakespeare", "shakespeare/input.txt",
                           "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                           "Tiny Shakespeare, 1.1M characters (karpathy/char-rnn, MIT; public-domain text)"),
    "tang-poems": Builtin("tang-poems", "tang-poems/tang_poems.txt",
                          "6f1807936f2799a8aff7bdd3175ea8d2ea2c62fa8328a95112ef4d041cb5474b",
                          "28,803 Tang poems, 1.4M characters (chinese-poetry, MIT; public-domain text)"),
    "movie-reviews": Builtin("movie-reviews", "movie-reviews/reviews.txt",
                             "2f452adeeeccf8a486d3d543663949fe0a71d978f74edd815e27e8f100794299",
                             "2,000 movie reviews, 1.5M words, unlabelled (Pang & Lee 2004 polarity v2.0)"),
}
