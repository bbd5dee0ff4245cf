# Source of notebooks/04_challenges.ipynb (python notebooks/_build.py writes the notebook).

# %% [markdown]
# # 1.5 Challenges: interpretability and privacy · 1.5 挑战：可解释性与隐私
#
# Section 1.5 of the tutorial names three challenges of large models: compute, data privacy and
# interpretability. Compute is measured by the benchmarks (README, "Results"). This notebook
# works through the other two on the tutorial's CNN: *why* did it answer 7 (attribution maps,
# and the checks that tell a real explanation from a pretty picture), and *what does it reveal*
# about its training images (a membership-inference attack, and training with differential
# privacy). About three minutes on a laptop CPU. Details and measured tables:
# [docs/challenges.md](../docs/challenges.md).
#
# 教程 1.5 节提出大模型的三个挑战：算力、数据隐私和可解释性。算力由基准测试衡量（README 的“Results”）。本 notebook
# 在教程的 CNN 上讨论另外两个：模型*为什么*回答 7（归因图，以及区分真正的解释和好看的图片的检验），以及它*泄露了*多少
# 训练图片的信息（成员推断攻击，以及差分隐私训练）。在笔记本电脑的 CPU 上约三分钟。详细说明和实测表格见
# [docs/challenges.md](../docs/challenges.md)。
#
# `FROMZERO_NOTEBOOK_SMALL=1` shrinks every size (seconds; the results are then meaningless).
# · `FROMZERO_NOTEBOOK_SMALL=1` 把所有规模缩到最小（几秒跑完，结果没有意义）。

# %%
import os
import warnings

import matplotlib.pyplot as plt
import torch

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: text bars without ipywidgets
SMALL = os.environ.get("FROMZERO_NOTEBOOK_SMALL", "") not in ("", "0")  # tiny sizes: seconds, for the tests
N_TRAIN, N_TEST, N_CHECK = (256, 256, 4) if SMALL else (10_000, 2000, 100)   # the model to explain
N_MEMBERS, EPOCHS_OVERFIT = (64, 1) if SMALL else (1000, 15)                # the over-fitted model
N_PRIVATE, DP_BATCH, DP_EPOCHS = (128, 16, 1) if SMALL else (10_000, 500, 2)  # the private one
_ = torch.manual_seed(0)

# %% [markdown]
# ## A model to explain · 一个待解释的模型
#
# The tutorial's CNN, trained for one epoch on the first training images.
#
# 教程中的 CNN，在前面的训练图片上训练一个 epoch。

# %%
from fromzero.datasets import load_mnist
from fromzero.models.cnn import build_model
from fromzero.recipes.mnist import to_inputs

(train_images, train_labels), (test_images, test_labels) = load_mnist("train"), load_mnist("test")
x_train, y_train = to_inputs(train_images[:N_TRAIN]), torch.from_numpy(train_labels[:N_TRAIN])
x_test, y_test = to_inputs(test_images[:N_TEST]), torch.from_numpy(test_labels[:N_TEST])
model = build_model()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0)
print("test accuracy", round(model.evaluate(x_test, y_test)["accuracy"], 4))

# %% [markdown]
# ## Interpretability: why 7? · 可解释性：为什么是 7？
#
# `fromzero.explain.images.attribution_maps` computes three maps with Captum, for each image and
# the class the model chose:
#
# - **gradient saliency**: $|\partial\,\text{score}/\partial\,\text{pixel}|$, the pixels the score is most sensitive to;
# - **Integrated Gradients**: (pixel − black) × the gradient averaged along the straight path from a
#   black image; red pixels raise the score, blue ones lower it, and they add up to
#   score(image) − score(black image);
# - **Grad-CAM**: the last convolution's feature maps weighted by their mean gradient: which
#   regions, at that layer's 14×14 resolution.
#
# `fromzero.explain.images.attribution_maps` 用 Captum 为每张图片和模型选择的类别计算三种图：
#
# - **梯度显著图**：$|\partial\,\text{分数}/\partial\,\text{像素}|$，分数对哪些像素最敏感；
# - **积分梯度**：(像素 − 黑色) × 从全黑图片到原图的直线路径上的平均梯度；红色像素提高分数，蓝色降低分数，总和等于
#   分数(图片) − 分数(全黑图片)；
# - **Grad-CAM**：最后一个卷积层的特征图按其平均梯度加权：在该层 14×14 的分辨率上，哪些区域起作用。

# %%
from fromzero.explain.images import attribution_maps

x = x_test[:4]
model.eval()
with torch.no_grad():
    probs = torch.softmax(model(x), -1)
target = probs.argmax(-1)
maps = attribution_maps(model, x, target)
fig, axes = plt.subplots(len(x), 4, figsize=(8, 2.1 * len(x)))
for i in range(len(x)):
    axes[i, 0].imshow(x[i, 0], cmap="gray")
    axes[i, 0].set_title(f"says {int(target[i])} ({probs[i, target[i]]:.0%})", fontsize=9)
    axes[i, 1].imshow(maps["saliency"][i], cmap="inferno")
    ig = maps["integrated_gradients"][i]
    axes[i, 2].imshow(ig, cmap="RdBu_r", vmin=-ig.abs().max(), vmax=ig.abs().max())
    axes[i, 3].imshow(x[i, 0], cmap="gray")
    axes[i, 3].imshow(maps["grad_cam"][i], cmap="inferno", alpha=0.6)
for ax, title in zip(axes[0, 1:], ["gradient saliency", "Integrated Gradients", "Grad-CAM"]):
    ax.set_title(title, fontsize=9)
for ax in axes.flat:
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# Integrated Gradients promises *completeness*: the attributions add up to
# score(image) − score(black image). `completeness` measures how close they come (the integral is
# a sum of 64 points along the path).
#
# 积分梯度保证*完备性*：归因之和等于 分数(图片) − 分数(全黑图片)。`completeness` 测量实际相差多少（积分用路径上
# 64 个点的和近似）。

# %%
from fromzero.explain.checks import completeness

print(completeness(model, x, target, maps["integrated_gradients"]))

# %% [markdown]
# ### Are the maps explanations, or pictures? · 这些图是解释，还是图片？
#
# An edge detector of the input also "looks like" the digit, and it ignores the model entirely.
# `image_checks` runs two checks from the literature on each map, with that edge map as a negative
# control:
#
# - **model randomization** (Adebayo et al. 2018): re-initialise the weights; a map that depends on
#   what the model learnt must change (rank correlation with the random model's map < 0.5);
# - **deletion** (Petsiuk et al. 2018): blacking out the top 10% pixels of the map must lower the
#   class probability at least twice as much as 10% random pixels.
#
# The edge map must fail randomization (correlation 1: it never looks at the model), and it may
# pass deletion (its top pixels are the strokes): deletion alone validates nothing.
#
# 输入图片的边缘检测图同样“像”这个数字，但它完全不看模型。`image_checks` 对每种图运行文献中的两个检验，并以边缘图作为
# 阴性对照：
#
# - **模型随机化**（Adebayo 等 2018）：重新初始化权重后，依赖于模型所学内容的图必须改变（与随机模型的图的秩相关 < 0.5）；
# - **删除测试**（Petsiuk 等 2018）：把图中最重要的 10% 像素涂黑，类别概率的下降至少是随机涂黑 10% 像素的两倍。
#
# 边缘图必然无法通过随机化检验（相关为 1：它从不看模型），却可能通过删除测试（它的重要像素就是笔画）：仅靠删除测试
# 什么也证明不了。

# %%
from fromzero.explain.checks import image_checks

report = image_checks(model, x_test[:N_CHECK])
print(f"{report['images']} test images")
print(f"{'map':22s} {'randomization ρ':>16s}  {'deletion: top / random drop':>28s}")
for name in report["randomization"]:
    r, d = report["randomization"][name], report["deletion"][name]
    print(f"{name:22s} {r['spearman']:10.3f} {'pass' if r['passed'] else 'FAIL':>5s}  "
          f"{d['top_drop']:10.3f} / {d['random_drop']:.3f} {'pass' if d['passed'] else 'FAIL':>5s}")

# %% [markdown]
# From the command line: `fromzero explain RUN examples/digit-7.png` draws the three maps for a
# saved run, and `fromzero explain RUN --check` runs these checks.
#
# 命令行中：`fromzero explain RUN examples/digit-7.png` 为保存的运行画出三种图，`fromzero explain RUN --check` 运行这些检验。
#
# ## Privacy: what does a model reveal about its training data? · 隐私：模型泄露了多少训练数据？
#
# A model tends to fit the examples it was trained on better than new ones. The
# **membership-inference attack** (Yeom et al. 2018) exploits exactly that: given an example, guess
# "it was in the training set" when the model's loss on it is low. Over equal numbers of training
# examples (members) and unseen ones (non-members), the attack's ROC AUC is 0.5 when nothing
# leaks, 1.0 when it always guesses right. A CNN trained for many epochs on few images
# over-fits, and the attack finds it:
#
# 模型对训练过的样本往往比对新样本拟合得更好。**成员推断攻击**（Yeom 等 2018）正是利用这一点：给定一个样本，若模型在它
# 上的损失低，就猜“它在训练集中”。在数量相等的训练样本（成员）和未见过的样本（非成员）上，攻击的 ROC AUC 为 0.5 表示
# 没有泄露，为 1.0 表示每次都猜对。在少量图片上训练很多个 epoch 的 CNN 会过拟合，攻击就能发现：

# %%
from fromzero.privacy.audit import example_losses, membership_inference

members = to_inputs(train_images[:N_MEMBERS]), torch.from_numpy(train_labels[:N_MEMBERS])
# non-members from the same distribution: training images that no model of this notebook trains on
unseen = slice(N_PRIVATE, N_PRIVATE + N_MEMBERS)
non_members = to_inputs(train_images[unseen]), torch.from_numpy(train_labels[unseen])


def audit(model):
    """The loss-threshold attack on the members and as many non-members, and the two loss lists."""
    m, n = example_losses(model, *members), example_losses(model, *non_members)
    return membership_inference(m, n), m, n


overfit = build_model()
overfit.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
overfit.fit(*members, batch_size=64, epochs=EPOCHS_OVERFIT, verbose=0)
attack, member_losses, non_member_losses = audit(overfit)
print(f"test accuracy {overfit.evaluate(x_test, y_test)['accuracy']:.4f}; attack AUC {attack['auc']:.3f}, "
      f"advantage {attack['advantage']:.3f}; mean loss members {attack['member_loss']:.4f}, "
      f"non-members {attack['non_member_loss']:.4f}")

# %% [markdown]
# **Differential privacy** bounds such leaks. DP-SGD (Abadi et al. 2016) changes each step: every
# example joins the batch independently with probability $q$, each example's gradient is clipped to
# norm $C$, and Gaussian noise of standard deviation $\sigma C$ is added to their sum. The budget
# $\varepsilon$ says how much any single example can change what the trained model does (a factor
# $e^\varepsilon$ on the chance of any outcome, except with probability $\delta$). fromzero's
# `DifferentialPrivacy` callback (Opacus underneath) chooses $\sigma$ so that the run spends exactly
# the budget and reports $\varepsilon$ after every epoch. Noise needs data to average out: here the
# CNN trains on the first 10,000 training images (the members above among them) for two epochs,
# with $\varepsilon = 3$, $\delta = 10^{-5}$ and SGD with momentum at learning rate 2 (which suits the clipped,
# noisy gradient better than Adam; the recipe of docs/challenges.md), and faces the same attack:
#
# **差分隐私**为这种泄露设定上限。DP-SGD（Abadi 等 2016）改变每一步：每个样本以概率 $q$ 独立进入批次，每个样本的梯度
# 裁剪到范数 $C$，再在它们的和上加标准差为 $\sigma C$ 的高斯噪声。预算 $\varepsilon$ 表示任何一个样本对训练结果的影响上限
# （任何结果的概率最多相差 $e^\varepsilon$ 倍，$\delta$ 的概率除外）。fromzero 的 `DifferentialPrivacy` 回调（底层为 Opacus）
# 选择 $\sigma$ 使整个训练恰好花完预算，并在每个 epoch 后报告 $\varepsilon$。噪声需要足够的数据才能被平均掉：这里 CNN 在前
# 10,000 张训练图片（包括上面的成员）上训练两个 epoch，$\varepsilon = 3$、$\delta = 10^{-5}$，优化器为学习率 2 的带动量 SGD
# （比 Adam 更适合裁剪后带噪声的梯度；即 docs/challenges.md 的配方），然后接受同样的攻击：

# %%
import sys

from fromzero.privacy import DifferentialPrivacy

private = build_model()
private.compile(optimizer="sgd", lr=2.0, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
dp = DifferentialPrivacy(epsilon=3.0, delta=1e-5, file=sys.stdout)
private_data = to_inputs(train_images[:N_PRIVATE]), torch.from_numpy(train_labels[:N_PRIVATE])
history = private.fit(*private_data, batch_size=DP_BATCH, epochs=DP_EPOCHS, verbose=0, callbacks=[dp])
print("ε after each epoch:", [round(e, 2) for e in history.history["epsilon"]])
private_attack, private_member_losses, private_non_member_losses = audit(private)
print(f"test accuracy {private.evaluate(x_test, y_test)['accuracy']:.4f}; attack AUC {private_attack['auc']:.3f}, "
      f"advantage {private_attack['advantage']:.3f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
for ax, (title, m, n, a) in zip(axes, [
        ("no privacy", member_losses, non_member_losses, attack),
        ("DP-SGD, ε = 3", private_member_losses, private_non_member_losses, private_attack)]):
    bins = torch.logspace(-5, 1.5, 40)
    ax.hist(m.clamp(1e-5, 30), bins=bins, alpha=0.6, label="members (trained on)")
    ax.hist(n.clamp(1e-5, 30), bins=bins, alpha=0.6, label="non-members (never seen)")
    ax.set_xscale("log")
    ax.set_xlabel("loss of each image")
    ax.set_title(f"{title}: attack AUC {a['auc']:.2f}")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Privacy costs accuracy, most of all on little data: every noisy step carries as much noise as
# signal when the batches are small. On all 60,000 training images, two epochs at $\varepsilon = 3$
# reach 94.21% (docs/challenges.md); `fromzero train mnist-cnn --dp-epsilon 3 --dp-delta 1e-5
# --optimizer sgd --lr 2 --batch-size 512 --epochs 2`, then `fromzero audit-privacy RUN`.
#
# 隐私是以准确率为代价的，数据越少代价越大：批次小时，每一步带噪声的更新里噪声和信号一样多。用全部 60,000 张训练图片、
# $\varepsilon = 3$ 训练两个 epoch 可达 94.21%（见 docs/challenges.md）；命令为 `fromzero train mnist-cnn --dp-epsilon 3
# --dp-delta 1e-5 --optimizer sgd --lr 2 --batch-size 512 --epochs 2`，然后 `fromzero audit-privacy RUN`。
