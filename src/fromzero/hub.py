"""GPT-2 checkpoints in the Hugging Face layout, in and out (tutorial 1.2.6: pre-trained models).

A Hugging Face GPT-2 folder holds ``config.json`` (``"model_type": "gpt2"``), ``model.safetensors``
and the byte-level BPE tokenizer (``tokenizer.json``, or ``vocab.json`` + ``merges.txt``).
fromzero's ``GPT`` is the same network once its config says so: learned positions
(``pos_emb="learned"``), GPT-2's tanh GELU (``activation="gelu_tanh"``), LayerNorm and Linear
layers with biases, no QK-norm, tied embeddings. Two differences of storage remain:

- Hugging Face's GPT-2 stores each Linear as a ``Conv1D`` whose weight is (in, out): the
  transpose of ``nn.Linear``'s (out, in);
- its names: ``transformer.h.0.attn.c_attn`` is fromzero's ``blocks.0.attn.qkv`` (queries, keys
  and values side by side in the same order), ``c_fc``/``c_proj`` the MLP's ``fc``/``proj``,
  ``ln_1``/``ln_2``/``ln_f`` the norms.

``import_gpt2(source)`` turns a folder (or ``hf:NAME``, through ``huggingface_hub`` and its cache)
into a fromzero run folder, cached, so that every command that takes a GPT run takes it:
``fromzero generate hf:gpt2``, ``fromzero finetune hf:gpt2 --task ...``, ``pretrain gpt --init
hf:gpt2``. ``export_gpt2(run, folder)`` writes a fromzero GPT back in that layout, which
``transformers.AutoModelForCausalLM.from_pretrained(folder)`` loads.

Example:
    >>> run = import_gpt2("hf:gpt2")                       # doctest: +SKIP
    >>> export_gpt2("runs/gpt-shakespeare", "exported/")   # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .checkpoint import load_model, save_model
from .errors import CheckpointError, ConfigError
from .io import atomic_write_text, cache_dir, read_json, save_json
from .models.configs import GPTConfig
from .models.gpt import GPT
from .recipes.runs import HF_PREFIX

EOT = "<|endoftext|>"
_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh",
                "gelu": "gelu", "relu2": "relu2"}
_TO_HF_ACTIVATION = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu2": "relu2"}
# fromzero name -> Hugging Face name (inside "transformer."), for one block's tensors
_BLOCK = {"norm1": "ln_1", "attn.qkv": "attn.c_attn", "attn.proj": "attn.c_proj", "norm2": "ln_2",
          "mlp.fc": "mlp.c_fc", "mlp.proj": "mlp.c_proj"}
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


# --- in -------------------------------------------------------------------------------------------

def gpt2_config(hf: dict, where="config.json") -> GPTConfig:
    """fromzero's ``GPTConfig`` of a Hugging Face GPT-2 ``config.json`` (as a dict); what GPT-2's
    layout allows but fromzero's GPT does not compute is refused by name."""
    if hf.get("model_type") != "gpt2":
        raise CheckpointError(f"{where}: expected a GPT-2 checkpoint (model_type 'gpt2'), got model_type "
                              f"{hf.get('model_type')!r}; fromzero reads the GPT-2 family only")
    act = hf.get("activation_function", "gelu_new")
    unsupported = []
    if act not in _ACTIVATIONS:
        unsupported.append(f"activation_function {act!r} (expected one of {', '.join(_ACTIVATIONS)})")
    for key, ok in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False),
                    ("reorder_and_upcast_attn", False), ("add_cross_attention", False)):
        if hf.get(key, ok) != ok:
            unsupported.append(f"{key}={hf[key]!r}")
    if abs(float(hf.get("layer_norm_epsilon", 1e-5)) - 1e-5) > 1e-12:
        unsupported.append(f"layer_norm_epsilon={hf['layer_norm_epsilon']} (fromzero's LayerNorm uses 1e-5)")
    n_embd = int(hf["n_embd"])
    inner = hf.get("n_inner") or 4 * n_embd
    if inner % n_embd:
        unsupported.append(f"n_inner={inner} (expected a multiple of n_embd={n_embd})")
    if unsupported:
        raise CheckpointError(f"{where}: this GPT-2 variant is not supported: {'; '.join(unsupported)}")
    return GPTConfig(vocab_size=int(hf["vocab_size"]), block_size=int(hf["n_positions"]),
                     n_layer=int(hf["n_layer"]), n_head=int(hf["n_head"]), n_embd=n_embd,
                     mlp_ratio=inner // n_embd, activation=_ACTIVATIONS[act], norm="layernorm",
                     pos_emb="learned", qk_norm=False, tie_weights=bool(hf.get("tie_word_embeddings", True)),
                     zero_init=False, bias=True, dropout=0.0)


def gpt2_state_dict(hf_state: dict, config: GPTConfig, where="model.safetensors") -> dict:
    """fromzero ``GPT`` weights from Hugging Face GPT-2 ones (names mapped, Conv1D weights transposed)."""
    state = {re.sub(r"^transformer\.", "", k): v for k, v in hf_state.items()
             if not re.search(r"\.attn\.(masked_)?bias$", k)}     # old files keep the causal mask as a buffer
    out = {"wte.weight": state.pop("wte.weight", None), "wpe.weight": state.pop("wpe.weight", None),
           "norm_f.weight": state.pop("ln_f.weight", None), "norm_f.bias": state.pop("ln_f.bias", None)}
    for i in range(config.n_layer):
        for ours, theirs in _BLOCK.items():
            for part in ("weight", "bias"):
                t = state.pop(f"h.{i}.{theirs}.{part}", None)
                if t is not None and f"{theirs}.{part}" in _CONV1D:
                    t = t.t().contiguous()
                out[f"blocks.{i}.{ours}.{part}"] = t
    head = state.pop("lm_head.weight", None)
    out["lm_head.weight"] = out["wte.weight"] if config.tie_weights else head
    missing = sorted(k for k, v in out.items() if v is None)
    if missing or state:
        raise CheckpointError(f"{where}: does not match its config.json: "
                              + "; ".join(p for p in (f"missing {', '.join(missing[:6])}" if missing else "",
                                                      f"unexpected {', '.join(sorted(state)[:6])}" if state else "")
                                          if p))
    return out


def gpt2_tokenizer(folder: Path):
    """The byte-level BPE tokenizer of a Hugging Face folder (``tokenizer.json``, or ``vocab.json`` +
    ``merges.txt``) as fromzero's ``BPETokenizer``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # lazy: only when importing

    from .text.tokenizer import BPETokenizer  # lazy: text loads its readers only when used

    if (folder / "tokenizer.json").is_file():
        tk = Tokenizer.from_file(str(folder / "tokenizer.json"))
    elif (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        tk = Tokenizer(models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt")))
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tk.decoder = decoders.ByteLevel()
    else:
        raise CheckpointError(f"{folder}: expected a tokenizer (tokenizer.json, or vocab.json and merges.txt), "
                              "found neither")
    if tk.token_to_id(EOT) is None:
        raise CheckpointError(f"{folder}: the tokenizer has no {EOT} token (GPT-2's start and end of a text)")
    return BPETokenizer(tk)


def _download(name: str) -> Path:
    """The folder of Hugging Face model ``name``: from huggingface_hub's cache, or downloaded."""
    from huggingface_hub import snapshot_download  # lazy: only for hf:NAME
    from huggingface_hub.errors import LocalEntryNotFoundError  # lazy: as above

    patterns = ["config.json", "model.safetensors", "tokenizer.json", "vocab.json", "merges.txt"]
    try:
        return Path(snapshot_download(name, allow_patterns=patterns))
    except LocalEntryNotFoundError:
        raise CheckpointError(f"hf:{name}: not in the Hugging Face cache and it cannot be downloaded (offline?); "
                              "download it on a machine that is online, or give the path of a local folder "
                              "with config.json, model.safetensors and the tokenizer") from None
    except Exception as e:  # a wrong name, no access, a network error: huggingface_hub's own message
        raise CheckpointError(f"hf:{name}: could not get it from the Hugging Face Hub ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None


def import_gpt2(source, out=None) -> Path:
    """A fromzero run folder (``model.json``, ``model.safetensors``, ``tokenizer.json``) of the
    Hugging Face GPT-2 ``source`` (``hf:NAME`` or a folder). Without ``out`` it goes to the cache,
    keyed by the source's files, and is made once."""
    from .text.tokenizer import save_tokenizer  # lazy: as in gpt2_tokenizer

    s = str(source)
    folder = _download(s[len(HF_PREFIX):]) if s.startswith(HF_PREFIX) else Path(s)
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{folder}: expected a Hugging Face model folder with config.json, found none")
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{folder}: expected model.safetensors (fromzero never unpickles "
                              "pytorch_model.bin); convert it with transformers' "
                              "save_pretrained(safe_serialization=True)")
    key = hashlib.sha256("\n".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in
                                   sorted(folder.iterdir()) if p.is_file()).encode() + str(folder.resolve()).encode())
    if out is None:    # made once per source: its files' names, sizes and times are the key
        out = cache_dir() / "hf" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', s)[-60:]}-{key.hexdigest()[:12]}"
        if (out / ".complete").is_file():
            return out
    out = Path(out)
    config = gpt2_config(read_json(folder / "config.json"), folder / "config.json")
    tok = gpt2_tokenizer(folder)
    if tok.vocab_size != config.vocab_size:   # every sampled token must decode, every prompt token embed
        raise CheckpointError(f"{folder}: expected a tokenizer of {config.vocab_size} tokens (config.json's "
                              f"vocab_size), got {tok.vocab_size}")
    try:
        hf_state = load_file(str(weights))
    except Exception as e:   # safetensors raises its own error types on a bad file
        raise CheckpointError(f"{weights}: not a readable safetensors file ({type(e).__name__}: {e})") from None
    model = GPT(config)
    model.load_state_dict(gpt2_state_dict(hf_state, config, weights))
    out.mkdir(parents=True, exist_ok=True)
    save_model(out, model, extra={"task": "language-modeling", "data": f"Hugging Face {s}",
                                  "tokenizer": "tokenizer.json", "source": s})
    save_tokenizer(tok, out / "tokenizer.json")
    (out / ".complete").write_text("")
    return out


# --- out ------------------------------------------------------------------------------------------

def to_gpt2(model: GPT) -> tuple[dict, dict]:
    """(Hugging Face ``config.json`` dict, GPT-2 state dict) of a fromzero GPT; a model the GPT-2
    layout cannot hold is refused with what to change. A model without biases gets zero biases."""
    c = model.config
    bad = []
    if c.pos_emb != "learned":
        bad.append("pos_emb 'rope' (GPT-2 adds a learned position table; pre-train with --set pos_emb=learned)")
    if c.qk_norm:
        bad.append("qk_norm (GPT-2 has no norm on queries and keys; pre-train with --set qk_norm=false)")
    if c.norm != "layernorm":
        bad.append(f"norm {c.norm!r} (GPT-2 uses LayerNorm)")
    if bad:
        raise ConfigError("export --format hf: this GPT cannot be written as GPT-2: " + "; ".join(bad))
    hf = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": c.vocab_size,
          "n_positions": c.block_size, "n_embd": c.n_embd, "n_layer": c.n_layer, "n_head": c.n_head,
          "n_inner": c.mlp_ratio * c.n_embd, "activation_function": _TO_HF_ACTIVATION[c.activation],
          "layer_norm_epsilon": 1e-5, "tie_word_embeddings": c.tie_weights, "resid_pdrop": 0.0,
          "embd_pdrop": 0.0, "attn_pdrop": 0.0, "initializer_range": c.init_std, "use_cache": True}
    sd = {k: v.detach().cpu().float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    out = {"transformer.wte.weight": sd["wte.weight"], "transformer.wpe.weight": sd["wpe.weight"],
           "transformer.ln_f.weight": sd["norm_f.weight"],
           "transformer.ln_f.bias": sd.get("norm_f.bias", torch.zeros(c.n_embd))}
    for i in range(c.n_layer):
        for ours, theirs in _BLOCK.items():
            w = sd[f"blocks.{i}.{ours}.weight"]
            out[f"transformer.h.{i}.{theirs}.weight"] = w.t() if f"{theirs}.weight" in _CONV1D else w
            b = sd.get(f"blocks.{i}.{ours}.bias")
            out[f"transformer.h.{i}.{theirs}.bias"] = b if b is not None else torch.zeros(w.shape[0])
    if not c.tie_weights:
        out["lm_head.weight"] = sd["lm_head.weight"]
    return hf, {k: v.contiguous().clone() for k, v in out.items()}


def export_gpt2(run_dir, folder) -> Path:
    """Write the GPT of ``run_dir`` as a Hugging Face GPT-2 folder: config.json, model.safetensors,
    and for a byte-level BPE tokenizer tokenizer.json + tokenizer_config.json."""
    from .text.tokenizer import load_tokenizer  # lazy: as in gpt2_tokenizer

    run_dir, folder = Path(run_dir), Path(folder)
    if (folder / "model.json").exists():
        raise ConfigError(f"--out {folder}: expected a new or empty folder, or an earlier Hugging Face export to "
                          "replace, got a fromzero run")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "config.json").is_file():
        raise ConfigError(f"--out {folder}: expected a new or empty folder, or an earlier Hugging Face export to "
                          "replace, got a folder with other files")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {folder}: expected a folder, got a file")
    model = load_model(run_dir)
    if not isinstance(model, GPT):
        raise ConfigError(f"{run_dir}: export --format hf takes a GPT language model, got {type(model).__name__}")
    tok = load_tokenizer(run_dir)
    hf, state = to_gpt2(model)
    folder.mkdir(parents=True, exist_ok=True)
    notes = []
    if tok.kind == "bpe":
        eot = tok.eot_id
        hf.update(bos_token_id=eot, eos_token_id=eot)
        atomic_write_text(folder / "tokenizer.json", tok.tk.to_str())
        save_json(folder / "tokenizer_config.json", {"tokenizer_class": "GPT2TokenizerFast", "bos_token": EOT,
                                                    "eos_token": EOT, "unk_token": EOT,
                                                    "model_max_length": model.config.block_size,
                                                    "add_prefix_space": False})
    else:
        save_json(folder / "fromzero_tokenizer.json", tok.to_dict())
        notes.append("the character tokenizer has no Hugging Face form: it is in fromzero_tokenizer.json "
                     "(fromzero.text.tokenizer.load_tokenizer reads it)")
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    atomic_write_text(folder / "config.json", json.dumps(hf, indent=2))
    for n in notes:
        print(f"note: {n}")
    return folder
