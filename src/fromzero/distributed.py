"""Many processes, GPUs and machines: PyTorch's own torch.distributed, applied in one place.

fromzero grows no distributed system of its own. ``torchrun`` starts the processes and sets
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; ``init`` joins its process group (NCCL on CUDA, gloo on
CPU); ``parallelize`` wraps a finished model in DDP or FSDP2 (``fully_shard``) before the
trainer sees it; ``shard`` gives each rank its share of any data source (the sources know
nothing of ranks); the trainer sums its figures over ranks (``all_reduce_sum``); checkpoints
hold full state dicts gathered to rank 0, so a run saved by N processes resumes on M. A single
process needs none of this: every helper is then a no-op.

Example (``torchrun --nproc-per-node 2 train.py``, or ``fromzero ... --nproc 2``):
    >>> device = init("auto")                                          # doctest: +SKIP
    >>> trainer = Trainer(parallelize(model.to(device), "fsdp"), device=device)  # doctest: +SKIP
    >>> trainer.fit(data, epochs=1)       # each rank trains on its rows of each batch  # doctest: +SKIP
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.checkpoint import checkpoint
from torch.utils.data import DataLoader, IterableDataset, RandomSampler

from .device import resolve_device
from .errors import ConfigError, FromzeroError
from .recipes.configs import STRATEGIES


# --- the process group ----------------------------------------------------------------------------


def launched() -> bool:
    """True in a process that torchrun (or SLURM + torchrun) started as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 without a process group; torchrun's ``RANK`` before ``init``)."""
    return dist.get_rank() if is_initialized() else int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Processes in the group (1 without one)."""
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    """Rank 0: the one process that prints, plots and writes run files."""
    return rank() == 0


def init(device="auto") -> torch.device:
    """Join the process group that torchrun describes in the environment; return this rank's device.

    The backend follows the device: NCCL for CUDA (each process on GPU ``LOCAL_RANK``), gloo for
    CPU. Without torchrun's variables, or when already initialised, nothing is set up.
    """
    device = resolve_device(device)
    if not launched() and not is_initialized():
        return device
    _die_with_launcher()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise FromzeroError(f"distributed training runs on CUDA or CPU, got device {device.type!r}; "
                            "use --device cpu or cuda")
    if not is_initialized():
        backend = "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
        atexit.register(cleanup)
    return device


def cleanup() -> None:
    """Leave the process group (registered to run at exit by ``init``; on a failure, at once)."""
    if is_initialized():
        dist.destroy_process_group()


def finish() -> None:
    """The end of a command that succeeded: the ranks wait for each other, then leave the process
    group, so that no rank closes its connections while another still uses them (a rank once died
    at exit with "terminate called without an active exception"). A failed command does not wait:
    ``cleanup`` at exit, and torchrun stops the other ranks."""
    if is_initialized():
        barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the block first (downloads, tokenizer, token cache); the others after it."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def _comm_device() -> torch.device:
    if "nccl" in str(dist.get_backend()):
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values) -> list[float]:
    """Sum each number (a float, an int or a 0-d tensor) over all ranks, in one collective."""
    if world_size() == 1:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return t.tolist()


def all_true(flag) -> bool:
    """True when ``flag`` is true on every rank (every rank then takes the same branch)."""
    if world_size() == 1:
        return bool(flag)
    t = torch.tensor([1.0 if bool(flag) else 0.0], device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def fork_rng() -> None:
    """Give each rank its own torch random stream (dropout masks differ across ranks), derived
    from the stream they share, so a seeded run is still reproducible. No-op on one process."""
    if world_size() > 1:
        seed = int(torch.randint(0, 2**62, (1,)))  # the same draw on every rank
        torch.manual_seed(seed + rank())


# --- launching: ``fromzero ... --nproc N`` --------------------------------------------------------

def launch(nproc: int, args: list[str], module: bool = True) -> int:
    """Run ``python -m fromzero ARGS`` (or a script, ``module=False``) as ``nproc`` processes on this
    machine through torch.distributed.run, with the rendezvous on the loopback address.

    If a process fails, torchrun stops the others and this returns 1 instead of hanging. The workers
    go down with the launcher: SIGTERM, SIGINT or SIGHUP to it stops them (torchrun's agent) and this
    returns 128 + the signal; if the launcher dies without a word (SIGKILL), each worker gets SIGTERM
    from the kernel (``_die_with_launcher``).
    """
    from torch.distributed.run import get_args_parser, run  # lazy: ~0.1 s, only --nproc needs it
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError  # lazy: as above

    if not (isinstance(nproc, int) and nproc >= 1):
        raise FromzeroError(f"--nproc: expected a positive integer, got {nproc!r}")
    targs = ["--nnodes", "1", "--nproc-per-node", str(nproc), "--master-addr", "127.0.0.1",
             "--master-port", str(free_port()), *(["-m", "fromzero"] if module else []), *args]
    from torch.distributed.elastic.multiprocessing.api import SignalException  # lazy: as above

    os.environ[LAUNCHER_ENV] = str(os.getpid())   # the workers inherit it: they die with this process
    try:
        run(get_args_parser().parse_args(targs))
    except ChildFailedError as e:
        print(f"fromzero: a process failed, the job was stopped:\n{e}", file=sys.stderr)
        return 1
    except SignalException as e:  # torchrun's agent stopped the workers first
        print(f"fromzero: stopped by signal {e.sigval.name}; the {nproc} processes were stopped", file=sys.stderr)
        return 128 + int(e.sigval)
    finally:
        os.environ.pop(LAUNCHER_ENV, None)
    return 0


LAUNCHER_ENV = "FROMZERO_LAUNCHER_PID"


def _die_with_launcher() -> None:
    """In a worker that ``launch`` started: have the kernel send SIGTERM to this process when the
    launcher dies, even by SIGKILL (Linux; elsewhere torchrun's own handling is all)."""
    pid = os.environ.get(LAUNCHER_ENV)
    if not pid or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(pid):   # the launcher died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- strategies -----------------------------------------------------------------------------------

def check_strategy(strategy) -> str:
    strategy = "none" if strategy is None else strategy
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy: expected one of {', '.join(STRATEGIES)}, got {strategy!r}")
    return strategy


def find_blocks(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks of a model: the modules with parameters in its first ``nn.ModuleList``
    (a GPT's transformer blocks, a Keras-like model's layers); [] if it has none."""
    for m in model.modules():
        if isinstance(m, nn.ModuleList):
            found = [b for b in m if any(True for _ in b.parameters())]
            if found:
                return found
    return []


def parallelize(model: nn.Module, strategy: str = "auto", activation_checkpointing: bool = False,
                blocks=None) -> nn.Module:
    """Apply a strategy to a finished model, before the trainer sees it; return the module to train.

    Args:
        model: the model, already on its device (``init`` gives this rank's).
        strategy: ``"ddp"``: a full copy per process, gradients averaged (returns a DDP wrapper;
            ``model`` itself stays the plain module); ``"fsdp"``: FSDP2 ``fully_shard`` on each
            block, then on the whole model (the root holds the rest: embeddings, output layer),
            so parameters, gradients and optimizer state are split over the ranks (``model`` is
            sharded in place and returned); ``"auto"``: ddp when there are several processes;
            ``"none"``: unchanged. With one process every strategy leaves the model unchanged.
        activation_checkpointing: recompute each block's forward pass during backward.
        blocks: the modules to wrap and checkpoint (default: ``find_blocks(model)``; the whole
            model if there are none).

    With several processes each rank then gets its own random stream (``fork_rng``): its own
    dropout masks.

    Example:
        >>> net = parallelize(model.to(init()), "fsdp", activation_checkpointing=True)  # doctest: +SKIP
        >>> trainer = Trainer(net)                                                        # doctest: +SKIP
    """
    strategy = check_strategy(strategy)
    blocks = find_blocks(model) if blocks is None else list(blocks)
    if activation_checkpointing:
        for b in blocks or [model]:
            checkpoint_forward(b)
    if strategy == "auto":
        strategy = "ddp" if world_size() > 1 else "none"
    if strategy != "none" and world_size() > 1 and not is_sharded(model):
        model = _ddp(model) if strategy == "ddp" else _fsdp(model, blocks)
    fork_rng()
    return model


def unwrap(module: nn.Module) -> nn.Module:
    """The plain model inside what ``parallelize`` returned (a DDP wrapper's ``.module``)."""
    return module.module if isinstance(module, DDP) else module


def _ddp(model: nn.Module) -> nn.Module:
    device = next(model.parameters()).device
    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)


def _fsdp(model: nn.Module, blocks) -> nn.Module:
    from torch.distributed.fsdp import fully_shard  # lazy: FSDP and DTensor cost ~2 s over torch

    device = next(model.parameters()).device
    model.to(memory_format=torch.contiguous_format)  # FSDP shards contiguous tensors (not channels_last)
    with torch.no_grad():  # every rank shards the same weights: rank 0's
        for t in model.state_dict().values():
            dist.broadcast(t, 0)
    mesh = init_device_mesh(device.type, (world_size(),))
    for b in blocks:
        fully_shard(b, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def checkpoint_forward(module: nn.Module) -> None:
    """Activation checkpointing: keep only ``module``'s inputs in the forward pass and recompute
    its activations in the backward pass. The module and its parameter names are unchanged."""
    if getattr(module, "_fromzero_checkpointed", False):
        return
    inner = module.forward

    def forward(*args, **kwargs):
        if not torch.is_grad_enabled():
            return inner(*args, **kwargs)
        return checkpoint(inner, *args, use_reentrant=False, **kwargs)
    module.forward = forward
    module._fromzero_checkpointed = True


def is_sharded(model: nn.Module) -> bool:
    """True for a model that FSDP has split over ranks."""
    if "torch.distributed.fsdp" not in sys.modules:  # never imported: nothing is sharded
        return False
    from torch.distributed.fsdp import FSDPModule  # lazy: FSDP and DTensor cost ~2 s over torch
    return isinstance(model, FSDPModule)


def _resharded(model: nn.Module) -> bool:
    """``is_sharded(model)``, with every FSDP module put back in its sharded form (an FSDP root
    keeps whole parameters after a forward pass without backward): what state dicts read."""
    if "torch.distributed.fsdp" not in sys.modules:  # never imported: no module is sharded (saves ~2 s
        return False                                  # of start-up for each load_model/save_model)
    from torch.distributed.fsdp import FSDPModule  # lazy: FSDP and DTensor cost ~2 s over torch

    fsdp = [m for m in model.modules() if isinstance(m, FSDPModule)]
    for m in fsdp:
        m.reshard()
    return bool(fsdp)


@contextlib.contextmanager
def grad_sync(module, enabled: bool):
    """With ``enabled=False``, accumulate gradients locally (no all-reduce) for this backward pass:
    only the last micro-batch of a gradient-accumulation step needs to communicate."""
    if enabled or world_size() == 1:
        yield
        return
    from torch.distributed.fsdp import FSDPModule  # lazy: FSDP and DTensor cost ~2 s over torch

    if isinstance(module, DDP):
        with module.no_sync():
            yield
    elif isinstance(module, FSDPModule):
        module.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            module.set_requires_gradient_sync(True)
    else:
        yield


def local_numel(model: nn.Module) -> tuple[int, int]:
    """(parameters held by this rank, bytes they take): under FSDP, the local shards only."""
    from torch.distributed.tensor import DTensor  # lazy: DTensor costs ~2 s over torch
    n = b = 0
    for p in model.parameters():
        t = p.to_local() if isinstance(p, DTensor) else p
        n, b = n + t.numel(), b + t.numel() * t.element_size()
    return n, b


def full_tensor(t):
    """A DTensor (e.g. FSDP's gradient norm) as one plain tensor; anything else unchanged."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


# --- state dicts: full tensors on rank 0, whatever the strategy ---------------------------------

def _options(**kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions  # lazy: DTensor, ~2 s
    return StateDictOptions(full_state_dict=True, **kw)


def _param_names(model: nn.Module) -> dict[int, list[str]]:
    """id(parameter) -> every name it has (tied weights have several)."""
    names: dict[int, list[str]] = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(n)
    return names


def full_state_dict(model: nn.Module) -> dict:
    """The model's state dict with whole tensors: gathered to rank 0's CPU under FSDP (a
    collective: every rank calls it; the others get ``{}``), ``model.state_dict()`` otherwise."""
    if not _resharded(model):
        return model.state_dict()
    from torch.distributed.checkpoint.state_dict import get_model_state_dict  # lazy: DTensor, ~2 s

    sd = get_model_state_dict(model, options=_options(cpu_offload=True))
    for names in _param_names(model).values():  # tied weights: one tensor under each name
        for n in names[1:]:
            if names[0] in sd:
                sd[n] = sd[names[0]]
    return sd


def load_full_state_dict(model: nn.Module, state: dict, strict: bool = True) -> None:
    """Load whole tensors (as ``full_state_dict`` gives) into a plain or an FSDP-sharded model."""
    if not _resharded(model):
        model.load_state_dict(state, strict=strict)
        return
    from torch.distributed.checkpoint.state_dict import set_model_state_dict  # lazy: DTensor, ~2 s
    set_model_state_dict(model, state, options=_options(strict=strict))


def _ordered_names(model: nn.Module, optimizer) -> list[list[str]]:
    """The names of the optimizer's parameters, in the order of ``optimizer.state_dict()``'s ids."""
    names = _param_names(model)
    return [names[id(p)] for g in optimizer.param_groups for p in g["params"]]


def optimizer_state_dict(model: nn.Module, optimizer) -> dict:
    """``optimizer.state_dict()`` in the single-process format (integer ids), whatever the
    strategy: under FSDP the states are gathered to rank 0 (a collective; the others get ``{}``)."""
    if not _resharded(model):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict  # lazy: DTensor, ~2 s

    osd = get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))
    if not osd:
        return {}
    names = _ordered_names(model, optimizer)
    state = {}
    for i, ns in enumerate(names):
        found = next((n for n in ns if n in osd["state"]), None)
        if found is not None:
            state[i] = osd["state"][found]
    ids, groups = iter(range(len(names))), []
    for g, local in zip(osd["param_groups"], optimizer.param_groups):
        groups.append({**{k: v for k, v in g.items() if k != "params"},
                       "params": [next(ids) for _ in local["params"]]})
    return {"state": state, "param_groups": groups}


def load_optimizer_state_dict(model: nn.Module, optimizer, state: dict) -> None:
    """Load a state from ``optimizer_state_dict`` (written by any number of ranks) into ``optimizer``."""
    if not _resharded(model):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict  # lazy: DTensor, ~2 s

    names = [ns[0] for ns in _ordered_names(model, optimizer)]
    osd = {"state": {names[int(i)]: s for i, s in state["state"].items()},
           "param_groups": [{**g, "params": [names[int(i)] for i in g["params"]]}
                            for g in state["param_groups"]]}
    set_optimizer_state_dict(model, optimizer, osd, options=_options())


# --- data: each rank reads its share of every batch -----------------------------------------------

def rank_rows(n: int, rank: int, world_size: int, pad: bool = True) -> slice:
    """Rows of an n-row batch for ``rank``: every ``world_size``-th from ``rank``. A rank with none
    (a last batch smaller than the world) gets the last row again with ``pad``, else no row."""
    if rank < n:
        return slice(rank, n, world_size)
    return slice(n - 1, n) if pad else slice(n, n)


class Shard:
    """A data source that every rank reads whole, cut to this rank's share: its rows of each
    batch (``pad=False``: maybe none, see ``rank_rows``), or with ``whole`` the ``rank``-th batch
    of each ``world_size``. The source's position (its ``state_dict``, passed through) is then
    the same on every rank, so a checkpoint resumes on any number of ranks."""

    def __init__(self, data, rank: int, world_size: int, whole: bool = False, pad: bool = True):
        self.data, self.rank, self.world_size, self.whole, self.pad = data, rank, world_size, whole, pad

    def __len__(self):
        return len(self.data)

    def __getattr__(self, name):  # the source's state_dict / load_state_dict, if it has them
        if name == "data":
            raise AttributeError(name)
        return getattr(self.data, name)

    def _rows(self, b):
        if isinstance(b, torch.Tensor):  # contiguous, as if the rows had been read alone
            return b[rank_rows(len(b), self.rank, self.world_size, self.pad)].contiguous() if b.dim() else b
        if isinstance(b, (tuple, list)):
            return type(b)(self._rows(v) for v in b)
        if isinstance(b, dict):
            return {k: self._rows(v) for k, v in b.items()}
        return b

    def __iter__(self):
        it = iter(self.data)
        for b in it:
            if self.whole:  # read the whole group first: the source's position is then the group's end
                group = [b, *(next(it) for _ in range(self.world_size - 1))]
                yield group[self.rank]
            else:
                yield self._rows(b)


class _RankBatchSampler:
    def __init__(self, batch_sampler, rank: int, world_size: int):
        self.inner, self.rank, self.world_size = batch_sampler, rank, world_size

    def __len__(self):
        return len(self.inner)

    def __iter__(self):
        for b in self.inner:
            b = list(b)
            yield b[rank_rows(len(b), self.rank, self.world_size)]


def shard(data, grad_accum: int = 1, exact: bool = False):
    """This rank's share of ``data``, a source that every rank iterates alike: ``(data, this
    rank's micro-batches per step)``. The one place where data meets ranks: together they read
    the batches one process would, so the global batch (``grad_accum`` batches) is unchanged.
    An endless stream (no ``len``) whose ``grad_accum`` the ranks divide: whole batches. A
    map-style ``DataLoader``: it loads only this rank's rows (a shuffling one without a generator
    gets one, seeded alike on every rank). Anything else: this rank's rows of each batch (a batch
    smaller than the world repeats its last row). ``exact=True`` (evaluation): each row on one
    rank only; the caller sums over ranks.
    """
    w = world_size()
    if w == 1 or isinstance(data, Shard):
        return data, grad_accum
    r = rank()
    if exact:
        return Shard(data, r, w, pad=False), grad_accum
    if not hasattr(type(data), "__len__") and grad_accum % w == 0:
        return Shard(data, r, w, whole=True), grad_accum // w
    if isinstance(data, DataLoader) and data.batch_sampler is not None \
            and not isinstance(data.dataset, IterableDataset):
        if isinstance(data.batch_sampler, _RankBatchSampler):
            return data, grad_accum
        sampler = getattr(data.batch_sampler, "sampler", None)
        if isinstance(sampler, RandomSampler) and sampler.generator is None:  # one order for all ranks
            seed = all_reduce_sum([int(torch.randint(0, 2**31, (1,))) if is_main() else 0])[0]
            sampler.generator = torch.Generator().manual_seed(int(seed))
        kw = dict(num_workers=data.num_workers, collate_fn=data.collate_fn, pin_memory=data.pin_memory,
                  worker_init_fn=data.worker_init_fn, generator=data.generator,
                  timeout=data.timeout, multiprocessing_context=data.multiprocessing_context)
        if data.num_workers:
            kw.update(prefetch_factor=data.prefetch_factor, persistent_workers=data.persistent_workers)
        return DataLoader(data.dataset, batch_sampler=_RankBatchSampler(data.batch_sampler, r, w), **kw), \
            grad_accum
    return Shard(data, r, w), grad_accum
