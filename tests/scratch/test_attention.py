import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fromzero.errors import ShapeError
from fromzero.scratch import (attention_backward, attention_forward, multi_head_attention_backward,
                              multi_head_attention_forward, self_attention_backward,
                              self_attention_forward, softmax, tutorial_attention_scores)

from ._ref import check_op


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_sdpa_and_finite_differences(causal):
    rng = np.random.default_rng(int(causal))
    q, k, v = (rng.standard_normal((2, 3, 5, 4)) for _ in range(3))  # (B, nh, T, hs)
    check_op(lambda q, k, v: attention_forward(q, k, v, causal), attention_backward,
             lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
             [q, k, v], rng, ["q", "k", "v"])


def test_attention_with_more_keys_than_queries_and_wider_values():
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    check_op(attention_forward, attention_backward, F.scaled_dot_product_attention,
             [q, k, v], rng, ["q", "k", "v"])


def test_causal_attention_does_not_look_ahead():
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((1, 6, 4)) for _ in range(3))
    out, cache = attention_forward(q, k, v, causal=True)
    assert np.all(np.triu(cache[3][0], k=1) == 0)
    v2 = v.copy()
    v2[:, 4:] += 100.0  # changing the future leaves earlier positions as they were
    out2, _ = attention_forward(q, k, v2, causal=True)
    np.testing.assert_array_equal(out[:, :4], out2[:, :4])


@pytest.mark.parametrize("n_head,causal", [(1, False), (2, True)])
def test_self_attention_matches_torch_multihead_attention(n_head, causal):
    rng = np.random.default_rng(4)
    C, T = 6, 5
    x = rng.standard_normal((2, T, C))
    Ws = [rng.standard_normal((C, C)) / np.sqrt(C) for _ in range(4)]

    def reference(x, Wq, Wk, Wv, Wo):  # nn.MultiheadAttention's functional form, no biases
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if causal else None
        y, _ = F.multi_head_attention_forward(
            x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), C, n_head,
            torch.cat([Wq, Wk, Wv]), None, None, None, False, 0.0, Wo, None,
            need_weights=False, attn_mask=mask)
        return y.transpose(0, 1)  # (B, T, C)

    check_op(lambda *a: self_attention_forward(*a, n_head=n_head, causal=causal),
             self_attention_backward, reference, [x, *Ws], rng, ["x", "Wq", "Wk", "Wv", "Wo"])


@pytest.mark.parametrize("n_head,causal", [(1, False), (3, True)])
def test_multi_head_attention_matches_torch_with_biases(n_head, causal):
    rng = np.random.default_rng(6)
    C, T = 6, 5
    x = rng.standard_normal((2, T, C))
    W_qkv, W_o = rng.standard_normal((3 * C, C)) / np.sqrt(C), rng.standard_normal((C, C)) / np.sqrt(C)
    b_qkv, b_o = rng.standard_normal(3 * C), rng.standard_normal(C)

    def reference(x, W_qkv, b_qkv, W_o, b_o):  # nn.MultiheadAttention's layout: in_proj (3C, C)
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if causal else None
        y, _ = F.multi_head_attention_forward(
            x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), C, n_head, W_qkv, b_qkv,
            None, None, False, 0.0, W_o, b_o, need_weights=False, attn_mask=mask)
        return y.transpose(0, 1)

    check_op(lambda *a: multi_head_attention_forward(*a, n_head=n_head, causal=causal),
             multi_head_attention_backward, reference, [x, W_qkv, b_qkv, W_o, b_o], rng,
             ["x", "W_qkv", "b_qkv", "W_o", "b_o"])


def test_multi_head_attention_is_self_attention_with_stacked_weights():
    rng = np.random.default_rng(7)
    x, Ws = rng.standard_normal((2, 4, 6)), [rng.standard_normal((6, 6)) for _ in range(4)]
    y, _ = multi_head_attention_forward(x, np.concatenate(Ws[:3]), np.zeros(18), Ws[3], np.zeros(6), 2)
    np.testing.assert_allclose(y, self_attention_forward(x, *Ws, n_head=2, causal=True)[0], rtol=1e-12)
    with pytest.raises(ShapeError, match=r"n_head dividing C=6, received 4"):
        multi_head_attention_forward(x, np.ones((18, 6)), np.zeros(18), Ws[3], np.zeros(6), 4)


def test_attention_keeps_float32():
    q = np.ones((1, 3, 4), np.float32)
    out, cache = attention_forward(q, q, q, causal=True)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in attention_backward(out, cache))


def test_tutorial_attention_is_one_softmax_over_positions_not_a_weighted_sum():
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((4, 3)) for _ in range(3))
    a = tutorial_attention_scores(q, v)  # A(i) = exp(Q(i)·V(i)) / Σj exp(Q(j)·V(j))
    literal = np.exp([q[i] @ v[i] for i in range(4)])
    np.testing.assert_allclose(a, literal / literal.sum())
    assert a.shape == (4,) and a.sum() == pytest.approx(1.0)
    # the standard weights are a (T, T) matrix whose every row sums to 1, built from the keys
    _, cache = attention_forward(q, k, v)
    w = cache[3]
    np.testing.assert_allclose(w, softmax(q @ k.T / np.sqrt(3)))
    np.testing.assert_allclose(w.sum(axis=1), 1.0)


def test_attention_rejects_bad_shapes_naming_both():
    with pytest.raises(ShapeError, match=r"received q \(5, 4\), k \(5, 3\), v \(5, 4\)"):
        attention_forward(np.ones((5, 4)), np.ones((5, 3)), np.ones((5, 4)))
    with pytest.raises(ShapeError, match=r"3-D array \(B, T, C\), received shape \(5, 4\)"):
        self_attention_forward(np.ones((5, 4)), *[np.ones((4, 4))] * 4)
    with pytest.raises(ShapeError, match=r"n_head dividing C=4, received 3"):
        self_attention_forward(np.ones((1, 5, 4)), *[np.ones((4, 4))] * 4, n_head=3)
