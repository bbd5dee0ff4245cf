"""Why did the CNN say 7? Attribution maps of an image classifier, with Captum (tutorial 1.5).

Three maps, each (H, W) for one image and the class it explains:

- **gradient saliency** (Simonyan et al. 2013): |∂ logit / ∂ pixel|, which pixels the score is
  most sensitive to;
- **Integrated Gradients** (Sundararajan et al. 2017): (x − x₀) · the gradient averaged on the
  straight path from a black image x₀ to x. Its pixels add up to logit(x) − logit(x₀)
  ("completeness", checked by ``fromzero.explain.checks``);
- **Grad-CAM** (Selvaraju et al. 2017): the last convolution's feature maps weighted by their
  average gradient, ReLU'd and upsampled: which regions, at the resolution of that layer.

``fromzero.explain.checks`` tests that these maps depend on what the model learnt (Adebayo et al.
2018) and that deleting their top pixels hurts the prediction (Petsiuk et al. 2018).

Example:
    >>> maps = attribution_maps(model, x, target)   # x: (N, 1, 28, 28)  # doctest: +SKIP
    >>> maps["integrated_gradients"].shape
    torch.Size([N, 28, 28])
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import FromzeroError
from ..layers import Conv2D

METHODS = ("saliency", "integrated_gradients", "grad_cam")
IG_STEPS = 64   # Gauss-Legendre points on the path: completeness within 1% on the tutorial's CNN


def last_conv(model: nn.Module) -> nn.Module:
    """The last convolution layer (with its activation, for fromzero's Conv2D): Grad-CAM's layer."""
    convs = [m for m in model.modules() if isinstance(m, Conv2D)] or \
        [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise FromzeroError(f"grad_cam: expected a model with a convolution layer, got {type(model).__name__}")
    return convs[-1]


def attribution_maps(model: nn.Module, x: torch.Tensor, target: torch.Tensor, methods=METHODS,
                     ig_steps: int = IG_STEPS) -> dict:
    """``{method: (N, H, W) map}`` for images ``x`` (N, C, H, W) and classes ``target`` (N,).

    Saliency is the largest |gradient| over channels; Integrated Gradients the sum over channels
    (signed: positive pixels raise the class score); Grad-CAM is upsampled to (H, W).
    """
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency  # lazy: only to explain

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise FromzeroError(f"explain: unknown method(s) {unknown}; expected some of {list(METHODS)}")
    was = model.training
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    out = {}
    if "saliency" in methods:
        out["saliency"] = Saliency(model).attribute(x, target=target, abs=True).amax(1).detach()
    if "integrated_gradients" in methods:
        ig = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target,
                                                  n_steps=ig_steps)
        out["integrated_gradients"] = ig.sum(1).detach()
    if "grad_cam" in methods:
        cam = LayerGradCam(model, last_conv(model)).attribute(x, target=target, relu_attributions=True)
        out["grad_cam"] = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")[:, 0].detach()
    model.train(was)
    return out


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """The gradient magnitude of the image itself (Sobel): a map that ignores the model, the
    negative control of the sanity checks (it looks plausible and explains nothing)."""
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=x.dtype)
    k = torch.stack([kx, kx.T])[:, None]                                    # (2, 1, 3, 3)
    g = torch.nn.functional.conv2d(x.mean(1, keepdim=True), k, padding=1)   # (N, 2, H, W)
    return g.pow(2).sum(1).sqrt()


def save_overlay(image: torch.Tensor, maps: dict, path, title: str = "") -> None:
    """A PNG: the input, then each map overlaid on it (red = raises the class score)."""
    import matplotlib  # lazy: pyplot costs ~1 s, only when drawing
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above

    img = image.detach().float().mean(0).cpu().numpy()                      # (H, W)
    fig, axes = plt.subplots(1, 1 + len(maps), figsize=(2.6 * (1 + len(maps)), 2.9))
    axes[0].imshow(img, cmap="gray")
    axes[0].set_title("input")
    names = {"saliency": "gradient saliency", "integrated_gradients": "Integrated Gradients",
             "grad_cam": "Grad-CAM", "edges": "edges (control)"}
    for ax, (name, m) in zip(axes[1:], maps.items()):
        m = m.detach().float().cpu()
        lim = float(m.abs().max()) or 1.0
        ax.imshow(img, cmap="gray")
        if bool((m < 0).any()):   # signed: red raises the score, blue lowers it, opacity = size
            rgba = torch.zeros(*m.shape, 4)
            rgba[..., 0], rgba[..., 2] = (m > 0).float(), (m < 0).float()
            rgba[..., 3] = (m.abs() / lim).clamp(0, 1) ** 0.7
            ax.imshow(rgba.numpy())
        else:
            ax.imshow(m.numpy(), cmap="inferno", alpha=0.6, vmin=0, vmax=lim)
        ax.set_title(names.get(name, name))
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def save_figure(fig, path) -> None:
    """Lay out, write (PNG at 100 dpi) and close a matplotlib figure."""
    import matplotlib.pyplot as plt  # lazy: pyplot costs ~1 s, only when drawing

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
