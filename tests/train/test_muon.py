import io

import pytest
import torch

from fromzero.models.gpt import GPT, gpt_config
from fromzero.train.muon import Muon, muon, muon_param_groups, newton_schulz
from fromzero.train.optim import OPTIMIZERS


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (3, 48, 48)])
def test_newton_schulz_approximates_the_orthogonal_factor(shape):
    torch.manual_seed(0)
    g = torch.randn(shape)
    o = newton_schulz(g)
    s = torch.linalg.svdvals(o)
    assert bool(((s > 0.5) & (s < 1.5)).all()), s          # every singular value pushed near 1
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    exact = u @ vh                                         # U Vᵀ: the orthogonal factor of g
    assert float((o - exact).norm() / exact.norm()) < 0.3


def test_param_groups_split_hidden_matrices_from_the_rest():
    model = GPT(gpt_config("tiny", tie_weights=False))
    groups = muon_param_groups(model, lr=1e-3, muon_lr=0.02)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())          # each exactly once
    hidden = {id(p) for g in groups if g["use_muon"] for p in g["params"]}
    assert id(model.wte.weight) not in hidden and id(model.lm_head.weight) not in hidden
    assert id(model.blocks[0].attn.qkv.weight) in hidden and id(model.blocks[0].mlp.proj.weight) in hidden
    assert all(p.dim() == 2 for g in groups if g["use_muon"] for p in g["params"])


def test_muon_trains_a_tiny_gpt_and_its_state_saves_safely():
    assert "muon" in OPTIMIZERS
    torch.manual_seed(0)
    model = GPT(gpt_config("tiny"))
    opt = muon(model, lr=3e-3, muon_lr=0.02)
    x = torch.randint(0, 64, (8, 32))
    y = torch.roll(x, -1, dims=1)
    losses = []
    for _ in range(30):
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    opt2 = Muon(muon_param_groups(model, 3e-3, 0.02))
    opt2.load_state_dict(state)
    assert len(opt2.state) == len(opt.state)


def test_the_mnist_muon_recipe_puts_kernels_on_muon_and_the_output_layer_and_biases_on_adam():
    from fromzero.models.cnn import build_model
    from fromzero.recipes.configs import MNIST_SPEEDRUN, MnistConfig
    from fromzero.recipes.mnist import _optimizer

    model = build_model()
    opt = _optimizer(MnistConfig(**MNIST_SPEEDRUN))(model)
    kernels = [p for p in model.parameters() if p.dim() >= 2]       # conv1, conv2, dense128, dense10
    on_muon = [p for g in opt.param_groups if g["use_muon"] for p in g["params"]]
    assert [p.shape for p in on_muon] == [p.shape for p in kernels[:3]]   # 4-D conv kernels too
    rest = {id(p) for g in opt.param_groups if not g["use_muon"] for p in g["params"]}
    assert id(kernels[-1]) in rest and all(id(p) in rest for p in model.parameters() if p.dim() == 1)
    assert {g["lr"] for g in opt.param_groups if g["use_muon"]} == {MNIST_SPEEDRUN["muon_lr"]}
    assert {g["lr"] for g in opt.param_groups if not g["use_muon"]} == {MNIST_SPEEDRUN["lr"]}
    assert MnistConfig().optimizer == "adam"                            # the tutorial's stays the default


def test_muon_trains_a_convolution_kernel_as_a_matrix():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 8, 3)
    opt = Muon(muon_param_groups(conv, lr=1e-3, muon_lr=0.02), lr=0.02)
    before = conv.weight.detach().clone()
    conv(torch.randn(2, 3, 8, 8)).square().mean().backward()
    opt.step()
    step = (conv.weight - before).reshape(8, -1)                       # (out, in * 3 * 3)
    s = torch.linalg.svdvals(step / 0.02)
    assert bool(((s > 0.5) & (s < 1.5)).all()), s                        # an orthogonalised update
