"""Traditional models to set beside the deep ones (``fromzero compare``, docs/choosing.md).

``fromzero.baselines.ngram``: a smoothed character n-gram language model (interpolated
Kneser-Ney, NumPy). ``fromzero.baselines.classic``: scikit-learn's logistic regression and random
forest on pixels, TF-IDF + logistic regression on text, ridge regression on lagged windows.
scikit-learn is an extra: ``pip install 'fromzero[compare]'``.
"""
