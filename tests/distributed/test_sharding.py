"""Each rank's share of the data, the launcher's arguments, and strategies on one process (no spawn)."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from fromzero import distributed as dist
from fromzero.batches import TensorBatches
from fromzero.errors import ConfigError
from fromzero.models.gpt import GPT, gpt_config
from fromzero.text.data import RandomWindows


def fake_world(monkeypatch, rank, world):
    monkeypatch.setattr(dist, "rank", lambda: rank)
    monkeypatch.setattr(dist, "world_size", lambda: world)


@pytest.mark.parametrize("world", [2, 3])
def test_tensor_batches_ranks_split_each_global_batch(monkeypatch, world):
    x = torch.arange(23)
    whole = [b[0].tolist() for b in TensorBatches(x, batch_size=8, shuffle=True, seed=1)]
    parts = []
    for r in range(world):
        fake_world(monkeypatch, r, world)
        data, accum = dist.shard(TensorBatches(x, batch_size=8, shuffle=True, seed=1), grad_accum=3)
        assert accum == 3                                 # a finite source: rows of every batch
        parts.append([b[0].tolist() for b in data])
    for i, batch in enumerate(whole):
        got = sorted(v for p in parts for v in p[i])
        assert got == sorted(batch)                       # every row once, nothing else


def test_last_batch_smaller_than_world_repeats_a_row_for_training_only(monkeypatch):
    fake_world(monkeypatch, 1, 2)
    data, _ = dist.shard(TensorBatches(torch.arange(9), batch_size=4))  # batches of 4, 4, 1
    assert [b[0].tolist() for b in data] == [[1, 3], [5, 7], [8]]       # rank 1 is never left empty
    rows, _ = dist.shard([(torch.arange(1),)], exact=True)
    assert [b[0].numel() for b in rows] == [0]           # evaluation: no row counted twice


def test_shard_passes_the_sources_position_through(monkeypatch):
    fake_world(monkeypatch, 0, 2)
    tb = TensorBatches(torch.arange(8), batch_size=2, shuffle=True, seed=0)
    data, _ = dist.shard(tb)
    next(iter(data))
    assert data.state_dict()["pos"] == tb.state_dict()["pos"] == 1
    assert not hasattr(dist.shard([(torch.arange(2),)])[0], "state_dict")


def test_random_windows_rows_when_grad_accum_does_not_divide(monkeypatch):
    tokens = np.arange(1000, dtype=np.uint16)
    whole = RandomWindows(tokens, batch_size=6, block_size=8, seed=3)
    ranks = []
    for r in range(2):
        fake_world(monkeypatch, r, 2)
        data, accum = dist.shard(RandomWindows(tokens, batch_size=6, block_size=8, seed=3), grad_accum=1)
        assert accum == 1
        ranks.append((data, iter(data)))
    for _ in range(3):
        x, _ = whole.next_batch()
        got = torch.cat([next(it)[0] for _, it in ranks])
        assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, x.tolist()))
    assert all(d.state_dict() == whole.state_dict() for d, _ in ranks)  # the same stream position


def test_random_windows_whole_micro_batches_when_grad_accum_divides(monkeypatch):
    tokens = np.arange(1000, dtype=np.uint16)
    whole = RandomWindows(tokens, batch_size=4, block_size=8, seed=3)
    ranks = []
    for r in range(2):
        fake_world(monkeypatch, r, 2)
        data, accum = dist.shard(RandomWindows(tokens, batch_size=4, block_size=8, seed=3), grad_accum=4)
        assert accum == 2
        ranks.append((data, iter(data)))
    singles = [whole.next_batch()[0] for _ in range(4)]  # one optimizer step: 4 micro-batches
    for k in range(2):
        for r, (_, it) in enumerate(ranks):
            assert torch.equal(next(it)[0], singles[2 * k + r])
    assert all(d.state_dict() == whole.state_dict() for d, _ in ranks)


def test_data_loader_loads_only_this_ranks_rows(monkeypatch):
    ds = TensorDataset(torch.arange(10))
    seen = []
    for r in range(2):
        fake_world(monkeypatch, r, 2)
        loader = DataLoader(ds, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))
        sharded, accum = dist.shard(loader, grad_accum=2)
        assert accum == 2 and len(sharded) == 3
        seen.append([b[0].tolist() for b in sharded])
    assert sorted(v for p in seen for b in p for v in b) == list(range(10))


def test_any_iterable_is_cut_to_rank_rows(monkeypatch):
    fake_world(monkeypatch, 1, 2)
    data, _ = dist.shard([(torch.arange(6), torch.arange(6) * 10)])
    (x, y), = list(data)
    assert x.tolist() == [1, 3, 5] and y.tolist() == [10, 30, 50]


def test_one_process_needs_no_process_group():
    model = GPT(gpt_config("tiny"))
    assert not dist.is_initialized() and dist.world_size() == 1 and dist.is_main()
    for strategy in ("ddp", "fsdp", "auto", "none", None):
        assert dist.parallelize(model, strategy) is model
    assert dist.all_reduce_sum([1, 2.5]) == [1.0, 2.5]
    assert dist.local_numel(model)[0] == sum(p.numel() for p in model.parameters())
    assert dist.full_state_dict(model).keys() == model.state_dict().keys()


def test_bad_strategy_is_a_config_error():
    with pytest.raises(ConfigError, match="fsdp.*got 'zero3'"):
        dist.parallelize(torch.nn.Linear(2, 2), "zero3")


def test_activation_checkpointing_gives_the_same_gradients():
    idx = torch.randint(0, 64, (2, 16))
    grads = []
    for ac in (False, True):
        torch.manual_seed(0)
        model = GPT(gpt_config("tiny", zero_init=False))
        dist.parallelize(model, "none", activation_checkpointing=ac)
        model(idx, idx).backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()             # parameter names unchanged
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], msg=k)


def test_find_blocks_picks_the_transformer_blocks():
    model = GPT(gpt_config("tiny"))
    assert dist.find_blocks(model) == list(model.blocks)
    assert dist.find_blocks(torch.nn.Linear(2, 2)) == []
