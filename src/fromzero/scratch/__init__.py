"""The tutorial's formulas (section 1.3), executable: NumPy only, every backward by hand.

Read in the tutorial's order:

* 1.3.1 forward propagation, y = f(Wx + b): ``dense``, ``activations``
* 1.3.2 backpropagation, ∂L/∂W = ∂L/∂y · ∂y/∂W: each op's ``*_backward``, ``losses``,
  ``sequential`` (the chain rule through a network), ``gradcheck`` (verifying it numerically)
* 1.3.3 gradient descent, W ← W − η ∂L/∂W: ``optim`` (SGD with momentum, Adam)
* 1.3.4 convolution: ``conv`` (the tutorial's true convolution and the layers' cross-correlation)
* 1.3.5 pooling: ``pool``
* 1.3.6 self-attention: ``attention`` (the standard softmax(QKᵀ/√d)V beside the tutorial's form)
* layer normalisation (used by every Transformer block): ``norm``
* a whole Transformer: ``embedding`` (token and position tables), ``gpt`` (pre-LN blocks of
  causal multi-head attention and a GELU MLP, tied LM head, forward and backward of the whole
  model), ``chars`` (characters as tokens, read without torch)
* training from zero: ``train`` (``fromzero scratch train``: an MLP or CNN on MNIST) and
  ``gpt_train`` (``--model gpt``: a character GPT on Tiny Shakespeare or your own text)

Every op is a pair ``y, cache = op_forward(...)`` / ``grads = op_backward(dy, cache)``; the
classes in ``layers`` wrap them with their parameters. docs/formulas.md maps each formula to its
function and test. This package never imports torch; the tests use torch only as a reference.

Example:
    >>> import numpy as np
    >>> from fromzero.scratch import Sequential, Dense, ReLU
    >>> model = Sequential(Dense(784, 64, rng=0), ReLU(), Dense(64, 10, rng=1))
    >>> model.forward(np.zeros((2, 784), np.float32)).shape
    (2, 10)
"""
from .activations import (gelu_backward, gelu_forward, relu_backward, relu_forward, sigmoid_backward,
                          sigmoid_forward, softmax, softmax_backward, softmax_forward, tanh_backward,
                          tanh_forward)
from .attention import (attention_backward, attention_forward, multi_head_attention_backward,
                        multi_head_attention_forward, self_attention_backward,
                        self_attention_forward, tutorial_attention_scores)
from .conv import col2im, conv2d_backward, conv2d_forward, convolve2d, correlate2d, im2col
from .dense import dense_backward, dense_forward
from .embedding import embedding_backward, embedding_forward
from .gpt import GPT, GPTConfig, gpt_backward, gpt_forward
from .gradcheck import numerical_gradient, relative_error
from .layers import (AvgPool2D, Conv2D, Dense, Flatten, Layer, LayerNorm, MaxPool2D, ReLU,
                     SelfAttention, Sigmoid, Softmax, Tanh)
from .losses import (mse_backward, mse_forward, softmax_cross_entropy_backward,
                     softmax_cross_entropy_forward)
from .norm import layer_norm_backward, layer_norm_forward
from .optim import SGD, Adam, Optimizer, sgd_step
from .pool import (avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward,
                   max_pool2d_forward, tutorial_max_pool2d)
from .sequential import Sequential

__all__ = [
    "dense_forward", "dense_backward",
    "relu_forward", "relu_backward", "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward", "softmax", "softmax_forward", "softmax_backward",
    "gelu_forward", "gelu_backward",
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward", "mse_forward", "mse_backward",
    "sgd_step", "Optimizer", "SGD", "Adam",
    "convolve2d", "correlate2d", "im2col", "col2im", "conv2d_forward", "conv2d_backward",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "tutorial_max_pool2d",
    "attention_forward", "attention_backward", "self_attention_forward",
    "self_attention_backward", "tutorial_attention_scores",
    "multi_head_attention_forward", "multi_head_attention_backward",
    "embedding_forward", "embedding_backward", "gpt_forward", "gpt_backward", "GPT", "GPTConfig",
    "layer_norm_forward", "layer_norm_backward",
    "Layer", "Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "ReLU", "Sigmoid", "Tanh", "Softmax",
    "Flatten", "LayerNorm", "SelfAttention", "Sequential",
    "numerical_gradient", "relative_error",
]
