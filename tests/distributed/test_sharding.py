"""Each rank's share of the data, the launcher's arguments, and strategies on one process (no spawn)."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from fromzero import distributed as dist
from fromzero.errors import ConfigError, FromzeroError
from fromzero.models.gpt import GPT, gpt_config
from fromzero.text.data import RandomWindows
from fromzero.train import TensorBatches, Trainer


def fake_world(monkeypatch, rank, world):
    monkeypatch.setattr(dist, "rank", lambda: rank)
    monkeypatch.setattr(dist, "world_size", lambda: world)


@pytest.mark.parametrize("world", [2, 3])
def test_tensor_batches_ranks_split_each_global_batch(world):
    x = torch.arange(23)
    whole = [b[0].tolist() for b in TensorBatches(x, batch_size=8, shuffle=True, seed=1)]
    parts = []
    for r in range(world):
        tb = TensorBatches(x, batch_size=8, shuffle=True, seed=1)
        assert tb.shard_rank(r, world, grad_accum=3) == 3
        parts.append([b[0].tolist() for b in tb])
    for i, batch in enumerate(whole):
        got = sorted(v for p in parts for v in p[i])
        assert got == sorted(batch)                       # every row once, nothing else


def test_last_batch_smaller_than_world_repeats_a_row_for_training_only():
    tb = TensorBatches(torch.arange(9), batch_size=4)     # batches of 4, 4, 1
    tb.shard_rank(1, 2)
    assert [b[0].tolist() for b in tb] == [[1, 3], [5, 7], [8]]  # rank 1 is never left empty
    rows = dist.RankRows([(torch.arange(1),)], rank=1, world_size=2, pad=False)
    assert [b[0].numel() for b in rows] == [0]           # evaluation: no row counted twice


def test_random_windows_rows_when_grad_accum_does_not_divide():
    tokens = np.arange(1000, dtype=np.uint16)
    whole = RandomWindows(tokens, batch_size=6, block_size=8, seed=3)
    ranks = [RandomWindows(tokens, batch_size=6, block_size=8, seed=3) for _ in range(2)]
    assert [w.shard_rank(r, 2, grad_accum=1) for r, w in enumerate(ranks)] == [1, 1]
    for _ in range(3):
        x, _ = whole.next_batch()
        got = torch.cat([w.next_batch()[0] for w in ranks])
        assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, x.tolist()))
    assert all(w.state_dict() == whole.state_dict() for w in ranks)  # the same stream position


def test_random_windows_whole_micro_batches_when_grad_accum_divides():
    tokens = np.arange(1000, dtype=np.uint16)
    whole = RandomWindows(tokens, batch_size=4, block_size=8, seed=3)
    ranks = [RandomWindows(tokens, batch_size=4, block_size=8, seed=3) for _ in range(2)]
    assert [w.shard_rank(r, 2, grad_accum=4) for r, w in enumerate(ranks)] == [2, 2]
    singles = [whole.next_batch()[0] for _ in range(4)]  # one optimizer step: 4 micro-batches
    for k in range(2):
        for r, w in enumerate(ranks):
            assert torch.equal(w.next_batch()[0], singles[2 * k + r])
    assert all(w.state_dict() == whole.state_dict() for w in ranks)


def test_data_loader_loads_only_this_ranks_rows(monkeypatch):
    ds = TensorDataset(torch.arange(10))
    seen = []
    for r in range(2):
        fake_world(monkeypatch, r, 2)
        loader = DataLoader(ds, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))
        sharded, accum = dist.shard_batches(loader, grad_accum=2)
        assert accum == 2 and len(sharded) == 3
        seen.append([b[0].tolist() for b in sharded])
    assert sorted(v for p in seen for b in p for v in b) == list(range(10))


def test_any_iterable_is_cut_to_rank_rows(monkeypatch):
    fake_world(monkeypatch, 1, 2)
    data, _ = dist.shard_batches([(torch.arange(6), torch.arange(6) * 10)])
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
        Trainer(torch.nn.Linear(2, 2), strategy="zero3")


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


def test_nproc_argument():
    argv = ["pretrain", "gpt", "--nproc", "4", "--strategy", "fsdp", "--nproc=2"]
    assert dist.strip_nproc(argv) == ["pretrain", "gpt", "--strategy", "fsdp"]
    assert dist.nproc_arg(["train", "mnist-cnn"]) == 1
    assert dist.nproc_arg(["x", "--nproc=3"]) == 3
    with pytest.raises(FromzeroError, match="positive integer, got '0'"):
        dist.nproc_arg(["x", "--nproc", "0"])


def test_training_commands_take_strategy_options():
    from fromzero.cli import build_parser
    from fromzero.commands.pretrain import overrides_from_args

    p = build_parser()
    args = p.parse_args(["pretrain", "gpt", "--strategy", "fsdp", "--activation-checkpointing"])
    over = overrides_from_args(args)
    assert over["strategy"] == "fsdp" and over["activation_checkpointing"] is True
    args = p.parse_args(["train", "mnist-cnn", "--strategy", "ddp"])
    assert args.strategy == "ddp" and args.activation_checkpointing is None
