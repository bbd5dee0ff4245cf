"""The tutorial's tf.keras program (section 1.4), its three bugs fixed, timed per epoch.

This file runs in its own virtual environment with ``tensorflow-cpu`` (never a dependency of
fromzero): ``benchmarks/mnist_cnn.py --keras PYTHON`` starts it there, side by side with fromzero.
It reads the MNIST files fromzero embeds (no download), builds the tutorial's model with the same
fixes as ``fromzero.models.cnn`` (Flatten, ReLU on the convolutions, logits out), compiles it as the
tutorial does (Adam, default lr 1e-3; cross-entropy; accuracy) and trains ``--epochs`` epochs of
batch 128 in fp32. The last line it prints is JSON: each epoch's seconds and the test accuracy.

    /tmp/venv-keras/bin/python benchmarks/keras_tutorial.py --epochs 2
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

MNIST = Path(__file__).resolve().parent.parent / "src" / "fromzero" / "_data" / "mnist"


def idx(name: str):
    import numpy as np

    raw = gzip.decompress((MNIST / name).read_bytes())
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = TensorFlow's default)")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        sys.exit("tensorflow is not installed in this Python: see benchmarks/mnist_cnn.py --help (--keras)")
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    x_train = idx("train-images-idx3-ubyte.gz").reshape(-1, 28, 28, 1).astype("float32") / 255.0
    x_test = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 28, 28, 1).astype("float32") / 255.0
    y_train, y_test = idx("train-labels-idx1-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
    L = tf.keras.layers
    inputs = tf.keras.Input(shape=(28, 28, 1))
    x = L.Conv2D(32, (3, 3), (1, 1), "same", activation="relu")(inputs)       # fix 2: ReLU
    x = L.MaxPooling2D((2, 2), (2, 2))(x)
    x = L.Conv2D(64, (3, 3), (1, 1), "same", activation="relu")(x)
    x = L.MaxPooling2D((2, 2), (2, 2))(x)
    x = L.Flatten()(x)                                                         # fix 1: Flatten
    x = L.Dense(128, activation="relu")(x)
    outputs = L.Dense(10)(x)                                                   # fix 3: logits
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])

    class Timer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    times: list[float] = []
    model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, verbose=0, callbacks=[Timer()])
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    print(json.dumps({"epoch_s": times, "test_accuracy": float(acc), "tensorflow": tf.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
