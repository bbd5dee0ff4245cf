"""scikit-learn models behind small functions: the traditional side of ``fromzero compare``.

Each ``fit_*`` returns a fitted estimator with ``predict``; ``count_params`` and ``size_bytes``
measure it the same way for every kind. scikit-learn is an extra: ``pip install 'fromzero[compare]'``.

Example:
    >>> import numpy as np
    >>> x, y = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8), np.arange(40) % 2
    >>> model = fit_pixel_logistic(x, y)
    >>> model.predict(pixels(x[:3])).shape, count_params(model)
    ((3,), 785)
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np

from ..errors import ConfigError

try:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import FeatureUnion, Pipeline
except ModuleNotFoundError as e:   # the baselines are an extra; the rest of fromzero runs without them
    raise ConfigError(f"fromzero compare needs scikit-learn ({e.name} is missing): "
                      "pip install 'fromzero[compare]'") from None


def pixels(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1]: each pixel a feature."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def fit_pixel_logistic(images, labels, C: float = 0.1, max_iter: int = 100, seed: int = 0):
    """Multinomial logistic regression on raw pixels (L2 penalty ``1/C``; ``max_iter`` lbfgs steps, a
    budget: on all of MNIST it stops short of convergence, within a few tenths of a percent of it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=C, max_iter=max_iter, random_state=seed).fit(pixels(images), labels)


def fit_pixel_forest(images, labels, n_trees: int = 100, seed: int = 0, jobs: int = 1):
    """A random forest of ``n_trees`` fully grown trees (``sqrt(784)`` pixels tried per split)."""
    return RandomForestClassifier(n_estimators=n_trees, random_state=seed, n_jobs=jobs).fit(pixels(images), labels)


def tfidf_features():
    """Word 1-2-grams and character 2-5-grams (within word boundaries), TF-IDF weighted, sublinear tf."""
    return FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True))])


def fit_tfidf_logistic(texts, labels, dev_texts, dev_labels, Cs=(1.0, 4.0, 16.0), seed: int = 0):
    """TF-IDF + logistic regression, its ``C`` chosen on the dev texts (as the deep models choose
    their epoch on dev). Returns ``(pipeline, {C: dev accuracy})``."""
    feats = tfidf_features().fit(texts)
    x, xd = feats.transform(texts), feats.transform(dev_texts)
    scores, best = {}, None
    for C in Cs:
        clf = LogisticRegression(C=C, max_iter=1000, random_state=seed).fit(x, labels)
        scores[C] = float(np.mean(clf.predict(xd) == np.asarray(dev_labels)))
        if best is None or scores[C] > scores[best[0]]:
            best = C, clf
    return Pipeline([("tfidf", feats), ("logistic", best[1])]), scores


def fit_ridge(x, y, x_val, y_val, alphas=(0.1, 1.0, 10.0, 100.0, 1000.0, 3000.0, 10000.0)):
    """Ridge regression from flattened inputs to flattened targets, ``alpha`` chosen on the
    validation pairs by mean squared error. Returns ``(model, {alpha: validation MSE})``."""
    x, xv = x.reshape(len(x), -1), x_val.reshape(len(x_val), -1)
    y2, yv = y.reshape(len(y), -1), y_val.reshape(len(y_val), -1)
    scores, best = {}, None
    for a in alphas:
        m = Ridge(alpha=a).fit(x, y2)
        # scikit-learn returns (N,) for a one-column y: without the reshape, (N,) - (N, 1) broadcasts to N x N.
        scores[a] = float(np.mean((m.predict(xv).reshape(len(xv), -1) - yv) ** 2))
        if best is None or scores[a] < scores[best[0]]:
            best = a, m
    return best[1], scores


def count_params(model) -> int:
    """Learned numbers: coefficients and intercepts of a linear model; for a forest, its trees'
    nodes (each holds a feature, a threshold and class counts, counted as one); a pipeline: its
    last step (a TF-IDF vocabulary and idf weights are not counted)."""
    if isinstance(model, Pipeline):
        return count_params(model.steps[-1][1])
    if hasattr(model, "estimators_"):
        return int(sum(t.tree_.node_count for t in model.estimators_))
    return int(np.size(model.coef_) + np.size(model.intercept_))


def size_bytes(model) -> int:
    """The fitted model's size as a pickle (vocabularies and trees included)."""
    return len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
