# Source of notebooks/02_formulas.ipynb (python notebooks/_build.py writes the notebook).

# %% [markdown]
# # 1.3 The formulas, runnable · 1.3 公式（可运行）
#
# Section 1.3 of the tutorial gives six formulas: forward pass, backpropagation, gradient descent,
# convolution, pooling and self-attention. `fromzero.scratch` implements each in NumPy only, with
# every backward pass written by hand. This notebook runs them on small arrays and on an MNIST
# digit, checks each hand-written gradient against finite differences, and trains a network with
# nothing else. No PyTorch here. About a minute on a laptop CPU. The table of formulas, functions
# and tests is [docs/formulas.md](../docs/formulas.md).
#
# 教程 1.3 节给出六组公式：前向传播、反向传播、梯度下降、卷积、池化、自注意力。`fromzero.scratch` 只用 NumPy
# 实现了它们，每个反向传播都是手写的。本 notebook 在小数组和一张 MNIST 手写数字上运行它们，用数值差分检验每个
# 手写的梯度，并只用这些函数训练一个网络。这里不用 PyTorch。在笔记本电脑的 CPU 上约一分钟。公式、函数与测试的
# 对照表见 [docs/formulas.md](../docs/formulas.md)。
#
# `FROMZERO_NOTEBOOK_SMALL=1` shrinks every size (seconds; the results are then meaningless).
# · `FROMZERO_NOTEBOOK_SMALL=1` 把所有规模缩到最小（几秒跑完，结果没有意义）。

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

SMALL = os.environ.get("FROMZERO_NOTEBOOK_SMALL", "") not in ("", "0")  # tiny sizes: seconds, for the tests
rng = np.random.default_rng(0)
np.set_printoptions(precision=4, suppress=True)


def report(name, analytic, numeric):
    """Print how far a hand-written gradient is from the finite-difference one."""
    from fromzero.scratch import relative_error
    print(f"{name:28s} relative error {relative_error(analytic, numeric):.1e}")

# %% [markdown]
# ## 1.3.1 Forward pass: $y = f(Wx + b)$ · 前向传播
#
# `dense_forward` computes $Wx + b$ for every row of a batch ($W$ has shape (out, in), as in the
# tutorial); `relu_forward` applies $f$. Each op returns its output and a *cache*: what its
# backward pass will need.
#
# `dense_forward` 对批量中的每一行计算 $Wx + b$（$W$ 的形状为 (out, in)，与教程一致）；`relu_forward` 施加 $f$。
# 每个运算都返回输出和一个 *cache*，即反向传播时需要的中间量。

# %%
from fromzero.scratch import dense_forward, relu_forward

x = rng.normal(size=(4, 3))            # a batch of 4 inputs with 3 numbers each
W, b = rng.normal(size=(2, 3)), np.zeros(2)
z, dense_cache = dense_forward(x, W, b)
y, relu_cache = relu_forward(z)
print("Wx + b =\n", z, "\ny = relu(Wx + b) =\n", y)

# %% [markdown]
# ## 1.3.2 Backpropagation: $\frac{\partial L}{\partial W} = \frac{\partial L}{\partial y}\frac{\partial y}{\partial W}$ · 反向传播
#
# Each op's backward turns $\partial L/\partial(\text{output})$ into $\partial L/\partial(\text{input})$
# and the gradients of its own parameters: the chain rule, one op at a time. To check a
# hand-written gradient, nudge each weight by $\pm h$ and watch the loss:
# $\partial L/\partial w \approx (L(w+h) - L(w-h))/2h$ (`numerical_gradient`). In float64 a correct
# backward agrees to about $10^{-8}$ or better; a wrong one is off by order 1.
#
# 每个运算的反向传播把 $\partial L/\partial(\text{输出})$ 变成 $\partial L/\partial(\text{输入})$ 以及自身参数的梯度：
# 逐个运算应用链式法则。检验手写梯度的办法是把每个权重加减 $h$，观察损失的变化：
# $\partial L/\partial w \approx (L(w+h) - L(w-h))/2h$（`numerical_gradient`）。在 float64 下，正确的反向传播与之吻合到
# $10^{-8}$ 左右或更好；错误的会差一个数量级为 1 的量。

# %%
from fromzero.scratch import dense_backward, numerical_gradient, relu_backward

g = rng.normal(size=y.shape)                       # a loss L = Σ g ⊙ y, so ∂L/∂y = g


def loss():
    return float((relu_forward(dense_forward(x, W, b)[0])[0] * g).sum())


dz = relu_backward(g, relu_cache)                  # ∂L/∂z = ∂L/∂y · f'(z)
dx, dW, db = dense_backward(dz, dense_cache)       # ∂L/∂W = Σ dzᵀ x, ∂L/∂b = Σ dz
report("dense + relu: dL/dW", dW, numerical_gradient(loss, W))
report("dense + relu: dL/db", db, numerical_gradient(loss, b))
report("dense + relu: dL/dx", dx, numerical_gradient(loss, x))

# %% [markdown]
# Through a whole network, `Sequential.backward` runs every layer's backward in reverse order.
# Below, a two-layer network with the softmax cross-entropy loss
# ($\partial L/\partial z = \text{softmax}(z) - \text{onehot}(y)$, averaged over the batch), checked the same way.
#
# 对整个网络，`Sequential.backward` 按相反顺序调用每一层的反向传播。下面是一个两层网络加 softmax 交叉熵损失
# （$\partial L/\partial z = \text{softmax}(z) - \text{onehot}(y)$，在批量上取平均），用同样的方法检验。

# %%
from fromzero.scratch import (Dense, ReLU, Sequential, softmax_cross_entropy_backward,
                              softmax_cross_entropy_forward)

net = Sequential(Dense(5, 8, rng=1, dtype=np.float64), ReLU(), Dense(8, 3, rng=2, dtype=np.float64))
xb, yb = rng.normal(size=(6, 5)), rng.integers(0, 3, 6)
ce, ce_cache = softmax_cross_entropy_forward(net.forward(xb), yb)
net.backward(softmax_cross_entropy_backward(ce_cache))
for (name, p), grad in zip(net.named_params(), net.grads()):
    report(f"network: dL/d{name}", grad,
           numerical_gradient(lambda: softmax_cross_entropy_forward(net.forward(xb), yb)[0], p))

# %% [markdown]
# ## 1.3.3 Gradient descent: $W \leftarrow W - \eta\,\frac{\partial L}{\partial W}$ · 梯度下降
#
# Forward, loss, backward, and `sgd_step` on every weight: that is training. Here a 784-64-10
# network learns MNIST digits with three learning rates $\eta$: too small and the loss barely
# moves, too large and it jumps around or diverges.
#
# 前向、损失、反向，再对每个权重执行 `sgd_step`：这就是训练。这里一个 784-64-10 的网络用三种学习率 $\eta$ 学习
# MNIST 手写数字：太小则损失几乎不动，太大则来回跳动甚至发散。

# %%
from fromzero.datasets import load_mnist
from fromzero.scratch import sgd_step
from fromzero.scratch.train import prepare

images, labels = load_mnist("train")
STEPS, N_IMAGES = (20, 2_000) if SMALL else (600, 20_000)
xs, ys = prepare(images[:N_IMAGES], "mlp"), labels[:N_IMAGES]     # standardised pixels, (N, 784)
curves = {}
for lr in (0.003, 0.1, 3.0):
    net = Sequential(Dense(784, 64, rng=0), ReLU(), Dense(64, 10, rng=1))
    order, curves[lr] = np.random.default_rng(0).integers(0, N_IMAGES, (STEPS, 64)), []
    for idx in order:
        ce, cache = softmax_cross_entropy_forward(net.forward(xs[idx]), ys[idx])   # 1.3.1
        net.backward(softmax_cross_entropy_backward(cache), need_dx=False)        # 1.3.2
        for p, grad in zip(net.params(), net.grads()):
            sgd_step(p, grad, lr)                                                  # 1.3.3
        curves[lr].append(ce)
plt.figure(figsize=(6, 3))
for lr, c in curves.items():
    plt.plot(np.convolve(c, np.ones(10) / 10, "valid"), label=f"η = {lr}")
plt.ylim(0, 4)
plt.xlabel("step (batch of 64)")
plt.ylabel("training loss (mean of 10 steps)")
plt.legend()
plt.show()

# %% [markdown]
# `fromzero.scratch.train.train_mnist` is the same loop over whole epochs, with Adam (a refinement
# of gradient descent: one step size per weight) and a cosine learning-rate decay, and measures
# the accuracy on the 10,000 test images (`fromzero scratch train` runs it from the command line).
#
# `fromzero.scratch.train.train_mnist` 是同样的循环，按完整的 epoch 训练，使用 Adam（梯度下降的改进：每个权重有自己的
# 步长）和余弦学习率衰减，并在 10,000 张测试图片上测量准确率（命令行中是 `fromzero scratch train`）。

# %%
from fromzero.scratch.train import train_mnist

result = train_mnist("mlp", epochs=1, train_limit=1_000 if SMALL else None, test_limit=500 if SMALL else None,
                     progress=not SMALL)
print(f"NumPy-only MLP, one epoch: test accuracy {result['test_accuracy']:.4f} "
      f"({result['samples_per_s']:,.0f} images/s)")

# %% [markdown]
# ## 1.3.4 Convolution: $Y(i,j) = \sum_m \sum_n F(m,n)\,X(i-m, j-n)$ · 卷积
#
# The tutorial's formula, literally, is `convolve2d`: the kernel slides *flipped* (the minus
# signs). Convolution layers in deep learning compute the cross-correlation $\sum\sum F(m,n)\,X(i+m, j+n)$
# instead (`correlate2d`, `conv2d_forward`): the same thing with the kernel rotated 180°. Below, a
# vertical-edge kernel (Sobel) on a handwritten 7: the flip swaps the sign of the response.
#
# 教程公式的字面实现是 `convolve2d`：卷积核*翻转*后滑动（公式中的减号）。深度学习中的卷积层计算的是互相关
# $\sum\sum F(m,n)\,X(i+m, j+n)$（`correlate2d`、`conv2d_forward`）：相当于把卷积核旋转 180°。下面用竖直边缘卷积核
# （Sobel）处理一个手写的 7：翻转使响应的符号相反。

# %%
from fromzero.scratch import convolve2d, correlate2d

digit = load_mnist("test")[0][0].astype(np.float64) / 255       # the first test image: a 7
F = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
conv, corr = convolve2d(digit, F), correlate2d(digit, F)
print("convolve2d(X, F) == correlate2d(X, F rotated 180°):",
      np.allclose(conv, correlate2d(digit, np.rot90(F, 2))))
fig, axes = plt.subplots(1, 4, figsize=(11, 2.8))
for ax, img, title in zip(axes, [digit, F, conv, corr],
                          ["X: the digit", "F: Sobel kernel", "convolve2d (tutorial)", "correlate2d (layers)"]):
    lim = np.abs(img).max()
    ax.imshow(img, cmap="gray" if img is digit else "RdBu_r", vmin=0 if img is digit else -lim, vmax=lim)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# The layer, `conv2d_forward`, adds channels, several kernels, stride and padding: the output is
# $\lfloor (H + 2p - k)/s \rfloor + 1$ wide. Its backward, checked:
#
# 卷积层 `conv2d_forward` 增加了通道、多个卷积核、步长和填充：输出宽度为 $\lfloor (H + 2p - k)/s \rfloor + 1$。
# 检验它的反向传播：

# %%
from fromzero.scratch import conv2d_backward, conv2d_forward

xc, Wc, bc = rng.normal(size=(2, 3, 7, 7)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
yc, conv_cache = conv2d_forward(xc, Wc, bc, stride=2, padding=1)
print("input", xc.shape, "-> output", yc.shape, "= (N, kernels, (7 + 2 - 3)//2 + 1, ...)")
gc = rng.normal(size=yc.shape)                                    # L = Σ g ⊙ y
dxc, dWc, dbc = conv2d_backward(gc, conv_cache)
conv_loss = lambda: float((conv2d_forward(xc, Wc, bc, stride=2, padding=1)[0] * gc).sum())  # noqa: E731
report("conv: dL/dW", dWc, numerical_gradient(conv_loss, Wc))
report("conv: dL/db", dbc, numerical_gradient(conv_loss, bc))
report("conv: dL/dx", dxc, numerical_gradient(conv_loss, xc))

# %% [markdown]
# ## 1.3.5 Pooling: $Y(i,j) = \max_m \max_n X(i-m, j-n)$ · 池化
#
# Taken literally (`tutorial_max_pool2d`), the formula slides a W×W window one pixel at a time:
# the output is almost as large as the input. Pooling layers step by the window size
# (`max_pool2d_forward`, stride = W), which halves height and width for W = 2: that is what
# "reduces the computation". Its backward sends each gradient to the pixel that was the maximum.
#
# 按字面理解（`tutorial_max_pool2d`），公式中的 W×W 窗口每次只移动一个像素，输出几乎与输入一样大。池化层以窗口大小为
# 步长（`max_pool2d_forward`，步长 = W），W = 2 时高和宽减半，这才“减少了计算量”。它的反向传播把每个梯度送回取到最大值的像素。

# %%
from fromzero.scratch import max_pool2d_backward, max_pool2d_forward, tutorial_max_pool2d

edges = np.maximum(corr, 0)                                      # the ReLU'd edge map above
literal = tutorial_max_pool2d(edges, 2)
pooled, pool_cache = max_pool2d_forward(edges[None, None], 2)    # (N, C, H, W) = (1, 1, 26, 26)
fig, axes = plt.subplots(1, 3, figsize=(8.5, 2.8))
for ax, img, title in zip(axes, [edges, literal, pooled[0, 0]],
                          [f"input {edges.shape}", f"tutorial formula {literal.shape}",
                           f"pooling layer {pooled[0, 0].shape}"]):
    ax.imshow(img, cmap="gray")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()
xp = rng.normal(size=(2, 3, 6, 6))
yp, pcache = max_pool2d_forward(xp, 2)
gp = rng.normal(size=yp.shape)
report("max pool: dL/dx", max_pool2d_backward(gp, pcache),
       numerical_gradient(lambda: float((max_pool2d_forward(xp, 2)[0] * gp).sum()), xp))

# %% [markdown]
# ## 1.3.6 Self-attention · 自注意力
#
# The tutorial writes $A(i) = \exp(Q(i)\cdot V(i)) / \sum_j \exp(Q(j)\cdot V(j))$: one number per
# position, with no keys and nothing mixed between positions (`tutorial_attention_scores`). The
# attention of Transformers compares every query with every **key** and averages the **values**:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d}}\right)V$$
#
# Its weights form an N×N matrix: row $i$ says how much position $i$ reads from each position $j$.
# Below, six words whose vectors are random but equal for equal words, with $Q = K = V = X$: the
# second "the" attends to the first one. With the causal mask of language models, a word sees only
# itself and the words before it.
#
# 教程写的是 $A(i) = \exp(Q(i)\cdot V(i)) / \sum_j \exp(Q(j)\cdot V(j))$：每个位置一个数，没有键（key），位置之间也没有
# 信息交换（`tutorial_attention_scores`）。Transformer 的注意力把每个查询与所有**键**比较，再对**值**加权平均（上式）。
# 权重是 N×N 矩阵：第 $i$ 行表示位置 $i$ 从各位置 $j$ 读取多少。下面是六个词，它们的向量是随机的，但相同的词向量相同，
# 且 $Q = K = V = X$：第二个 "the" 关注第一个 "the"。加上语言模型的因果掩码后，每个词只能看到自己和前面的词。

# %%
from fromzero.scratch import attention_forward, tutorial_attention_scores

words = "the cat sat on the mat".split()
vectors = {w: rng.normal(size=16) for w in dict.fromkeys(words)}
X = np.stack([vectors[w] for w in words])                       # (T, d) = (6, 16)
print("tutorial formula, one score per word:", tutorial_attention_scores(X, X).round(3))
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for ax, causal in zip(axes, (False, True)):
    _, cache = attention_forward(X[None], X[None], X[None], causal=causal)
    weights = cache[3][0]                                        # softmax(QKᵀ/√d): (T, T), rows sum to 1
    ax.imshow(weights, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(6), words)
    ax.set_yticks(range(6), words)
    ax.set_xlabel("key j (read from)")
    ax.set_ylabel("query i (reading)")
    ax.set_title("causal mask" if causal else "no mask")
plt.tight_layout()
plt.show()

# %% [markdown]
# Multi-head self-attention projects $X$ to $Q = XW_q^\top$, $K = XW_k^\top$, $V = XW_v^\top$, splits
# the width into heads, attends in each, and projects back with $W_o$. Its hand-written backward,
# checked against finite differences:
#
# 多头自注意力把 $X$ 投影为 $Q = XW_q^\top$、$K = XW_k^\top$、$V = XW_v^\top$，把宽度分给多个头，各自计算注意力，
# 再用 $W_o$ 投影回来。检验它手写的反向传播：

# %%
from fromzero.scratch import self_attention_backward, self_attention_forward

xa = rng.normal(size=(2, 5, 8))                                   # (B, T, C)
Ws = [rng.normal(size=(8, 8)) / np.sqrt(8) for _ in range(4)]     # Wq, Wk, Wv, Wo
ya, acache = self_attention_forward(xa, *Ws, n_head=2, causal=True)
ga = rng.normal(size=ya.shape)
grads = self_attention_backward(ga, acache)
attn_loss = lambda: float((self_attention_forward(xa, *Ws, n_head=2, causal=True)[0] * ga).sum())  # noqa: E731
for name, analytic, wrt in zip(["dL/dx", "dL/dWq", "dL/dWk", "dL/dWv", "dL/dWo"], grads, [xa, *Ws]):
    report(f"self-attention: {name}", analytic, numerical_gradient(attn_loss, wrt))

# %% [markdown]
# ## All six together: a GPT in NumPy · 六个公式合在一起：NumPy 写的 GPT
#
# `fromzero.scratch.gpt` assembles these ops (with embeddings and layer normalisation) into a
# character-level GPT, every backward written by hand, and `train_gpt` trains it on Tiny
# Shakespeare with Adam: still no PyTorch. A few hundred steps of a small one already write
# words and line breaks ([06_gpt_pretrain.ipynb](06_gpt_pretrain.ipynb) trains the PyTorch GPT).
#
# `fromzero.scratch.gpt` 把这些运算（加上嵌入和层归一化）组装成一个字符级 GPT，所有反向传播都是手写的；`train_gpt` 用 Adam 在
# Tiny Shakespeare 上训练它，依然不用 PyTorch。一个小模型训练几百步就能写出单词和换行（PyTorch 版的 GPT 见
# [06_gpt_pretrain.ipynb](06_gpt_pretrain.ipynb)）。

# %%
from fromzero.scratch.gpt_train import train_gpt

sizes = (dict(max_iters=3, n_layer=1, n_head=1, n_embd=16, block_size=8, eval_interval=3) if SMALL else
         dict(max_iters=300, n_layer=2, n_head=2, n_embd=64, block_size=32, eval_interval=100))
gpt = train_gpt("shakespeare", **sizes, progress=False, sample_chars=40 if SMALL else 300)
print(f"{gpt['model'].n_params():,} parameters, validation loss {gpt['val_loss']:.3f}; a sample:\n{gpt['sample']}")

# %% [markdown]
# Every check above is also a test: `tests/scratch/` compares each op with PyTorch's autograd and
# with finite differences ([docs/formulas.md](../docs/formulas.md)). Next: the same ideas as
# PyTorch layers, in the tutorial's CNN ([03_cnn.ipynb](03_cnn.ipynb)).
#
# 上面的每个检验也都是测试：`tests/scratch/` 把每个运算与 PyTorch 自动求导及数值差分比较
# （[docs/formulas.md](../docs/formulas.md)）。下一步：同样的思想以 PyTorch 层的形式出现在教程的 CNN 中
# （[03_cnn.ipynb](03_cnn.ipynb)）。
