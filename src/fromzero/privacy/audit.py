"""Privacy measured, not only promised: a membership-inference attack (Yeom et al. 2018).

The attacker holds the trained model and an example, and guesses whether the example was in the
training set: "yes" when the model's loss on it is low. Over equal numbers of training examples
(members) and examples the model never saw (non-members), the attack's ROC AUC says how well
that works: 0.5 is a coin toss (nothing leaks through the loss), 1.0 is certainty. ``advantage``
is the best threshold's true-positive rate minus its false-positive rate (0 = no leak); for a
model trained with ε-differential privacy it is at most e^ε - 1 (Yeom et al. 2018, Theorem 1), and
measured attacks stay far below that bound.

Example:
    >>> result = membership_inference(losses_members, losses_non_members)   # doctest: +SKIP
    >>> result["auc"]
    0.53
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import FromzeroError
from ..train.metrics import mean_ranks


def roc_auc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """P(a positive scores above a negative), ties counted half: the area under the ROC curve
    (the Mann-Whitney U statistic over len(pos)·len(neg) pairs, from ranks)."""
    pos, neg = torch.as_tensor(pos, dtype=torch.float64).flatten(), torch.as_tensor(neg, dtype=torch.float64).flatten()
    if not (len(pos) and len(neg)):
        raise FromzeroError(f"roc_auc: expected scores of both groups, got {len(pos)} and {len(neg)}")
    r = mean_ranks(torch.cat([pos, neg]))[:len(pos)].sum()
    return float((r - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def advantage(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """max over thresholds t of P(pos > t) - P(neg > t): the attack's best TPR - FPR."""
    pos = torch.as_tensor(pos, dtype=torch.float64).flatten().sort().values
    neg = torch.as_tensor(neg, dtype=torch.float64).flatten().sort().values
    t = torch.cat([pos, neg]).unique()                                   # every threshold that matters
    tpr = 1 - torch.searchsorted(pos, t, side="left") / len(pos)        # P(pos >= t)
    fpr = 1 - torch.searchsorted(neg, t, side="left") / len(neg)
    return float((tpr - fpr).max().clamp(min=0))


@torch.no_grad()
def example_losses(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The cross-entropy of each example (N,) under a classifier that returns logits."""
    was = model.training
    model.eval()
    out = [F.cross_entropy(model(x[i:i + batch_size]).float(), y[i:i + batch_size], reduction="none")
           for i in range(0, len(x), batch_size)]
    model.train(was)
    return torch.cat(out)


def membership_inference(member_losses, non_member_losses) -> dict:
    """The loss-threshold attack's AUC and advantage on equal numbers of members and non-members
    (the larger group is cut to the smaller one's size)."""
    m, n = torch.as_tensor(member_losses).flatten(), torch.as_tensor(non_member_losses).flatten()
    k = min(len(m), len(n))
    m, n = m[:k], n[:k]
    return {"auc": roc_auc(-m, -n), "advantage": advantage(-m, -n), "examples_per_group": k,
            "member_loss": float(m.mean()), "non_member_loss": float(n.mean())}
