"""Muon: momentum, then orthogonalise each weight matrix's update (Keller Jordan, 2024).

For a hidden weight matrix, Muon replaces the momentum-averaged gradient ``G = U S Vᵀ`` by
(approximately) ``U Vᵀ``: every direction gets the same step size, whatever its singular value.
The orthogonalisation is five Newton-Schulz iterations, only matrix products. Embeddings, the
output layer, norms and biases are not hidden matrices: they get AdamW inside the same optimizer.

Registered as the optimizer ``"muon"``: ``Trainer(model, optimizer="muon", lr=3e-3)`` uses
``lr`` for the AdamW part and ``muon_lr`` (default 0.02) for the matrices.

Example:
    >>> import torch
    >>> g = torch.randn(64, 32)
    >>> s = torch.linalg.svdvals(newton_schulz(g))
    >>> bool(((s > 0.5) & (s < 1.5)).all())      # singular values all pushed near 1
    True
"""
from __future__ import annotations

import torch
from torch import nn
from torch.optim.adamw import adamw as adamw_update  # the functional AdamW step (fused/foreach)

from .optim import register_optimizer

NS_COEFFS = (3.4445, -4.7750, 2.0315)  # a quintic tuned to push singular values into ~[0.7, 1.2]


@torch.no_grad()
def newton_schulz(G: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Approximately orthogonalise ``G`` (..., m, n): returns ~``U Vᵀ`` of ``G = U S Vᵀ``."""
    a, b, c = NS_COEFFS
    X = G.bfloat16() if G.is_cuda else G.float()
    tall = G.size(-2) > G.size(-1)
    if tall:
        X = X.mT                                              # work with the wide shape (m <= n)
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)       # spectral norm <= 1
    for _ in range(steps):
        A = X @ X.mT                                          # (..., m, m)
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    if tall:
        X = X.mT
    return X.to(G.dtype)


class Muon(torch.optim.Optimizer):
    """Muon for parameter groups with ``use_muon=True``, AdamW for the others.

    Args:
        params: parameter groups; each has ``use_muon`` (bool), and may set ``lr``, ``weight_decay``.
        lr: default learning rate of the Muon groups (the update has RMS ~1/sqrt(max dim)).
        momentum, nesterov, ns_steps: Muon's momentum and Newton-Schulz iterations.
        betas, eps: AdamW's, for the other groups.
    """

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, nesterov: bool = True,
                 ns_steps: int = 5, weight_decay: float = 0.0, betas=(0.9, 0.95), eps: float = 1e-8):
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps,
                        weight_decay=weight_decay, betas=betas, eps=eps, use_muon=True)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["use_muon"]:
                self._muon(group)
            else:
                self._adamw(group)
        return loss

    def _muon(self, group):
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        bufs = []
        for p in params:
            st = self.state[p]
            if "momentum_buffer" not in st:
                st["momentum_buffer"] = torch.zeros_like(p)
            bufs.append(st["momentum_buffer"])
        mom = group["momentum"]
        torch._foreach_lerp_(bufs, grads, 1 - mom)               # buf = mom * buf + (1 - mom) * g
        updates = torch._foreach_lerp(grads, bufs, mom) if group["nesterov"] else bufs
        by_shape: dict[tuple, list[int]] = {}
        for i, p in enumerate(params):
            by_shape.setdefault(tuple(p.shape), []).append(i)
        lr, wd = group["lr"], group["weight_decay"]
        for shape, idx in by_shape.items():                      # one batched Newton-Schulz per shape
            G = torch.stack([updates[i].reshape(shape[0], -1) for i in idx])  # (k, m, n)
            O = newton_schulz(G, group["ns_steps"])
            scale = max(1.0, G.size(-2) / G.size(-1)) ** 0.5
            for j, i in enumerate(idx):
                p = params[i]
                if wd:
                    p.mul_(1 - lr * wd)
                p.add_(O[j].view_as(p), alpha=-lr * scale)

    def _adamw(self, group):
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        exp_avgs, exp_avg_sqs, steps = [], [], []
        for p in params:
            st = self.state[p]
            if "exp_avg" not in st:
                st["step"] = torch.tensor(0.0, device=p.device)
                st["exp_avg"] = torch.zeros_like(p)
                st["exp_avg_sq"] = torch.zeros_like(p)
            exp_avgs.append(st["exp_avg"])
            exp_avg_sqs.append(st["exp_avg_sq"])
            steps.append(st["step"])
        fused = params[0].device.type in ("cuda", "cpu")
        adamw_update(params, [p.grad for p in params], exp_avgs, exp_avg_sqs, [], steps,
                                amsgrad=False, beta1=group["betas"][0], beta2=group["betas"][1],
                                lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"],
                                maximize=False, fused=fused, foreach=not fused)


def muon_param_groups(model: nn.Module, lr: float, muon_lr: float, weight_decay: float = 0.0, outputs=()):
    """Hidden matrices (2-D weights inside the blocks, convolution kernels) -> Muon; embeddings, the
    output layer (a GPT's ``lm_head``, or the parameters in ``outputs``), norms and biases -> AdamW."""
    embed_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    out_ids = {id(getattr(model, "lm_head").weight)} if hasattr(model, "lm_head") else set()
    out_ids |= {id(p) for p in outputs}
    hidden, decay, other = [], [], []
    seen = set()
    for p in model.parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if p.dim() >= 2 and id(p) not in embed_ids | out_ids:
            hidden.append(p)
        elif p.dim() >= 2:
            decay.append(p)
        else:
            other.append(p)
    groups = [dict(params=hidden, lr=muon_lr, use_muon=True, weight_decay=weight_decay),
              dict(params=decay, lr=lr, use_muon=False, weight_decay=weight_decay),
              dict(params=other, lr=lr, use_muon=False, weight_decay=0.0)]
    return [g for g in groups if g["params"]]


def muon(model: nn.Module, lr: float = 3e-3, weight_decay: float = 0.0, muon_lr: float = 0.02,
         **kw) -> Muon:
    """The optimizer-registry factory: Muon (``muon_lr``) for hidden matrices, AdamW (``lr``) for the rest."""
    return Muon(muon_param_groups(model, lr, muon_lr, weight_decay), lr=muon_lr, **kw)


register_optimizer("muon", muon)
