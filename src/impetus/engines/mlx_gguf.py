"""Load a model for the MLX engine: a GGUF file, or an MLX / Hugging Face safetensors folder.

GGUF: `mx.load(path, return_metadata=True)` reads the tensors and the metadata. Q4_0, Q4_1 and
Q8_0 tensors arrive already in MLX's affine quantized layout (packed uint32 weights plus one
fp16 scale and bias per block of 32), which is exactly llama.cpp's `d * q + m`, so they stay
quantized with no loss; other types arrive dequantized. We rename the tensors to mlx-lm's names,
undo the Q/K row permutation llama.cpp's converter applies for its rope layout, build the
mlx-lm model class from the metadata, and build the tokenizer and chat template from the
`tokenizer.*` keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impetus.engines.mlx_tokenizer import MlxTokenizer, from_gguf_metadata, from_hf


class MlxLoadError(ValueError):  # a file the MLX loader cannot take: a 4xx, not a 500
    pass


@dataclass
class LoadedModel:
    model: Any  # mlx.nn.Module with mlx-lm's call signature: model(tokens, cache=...)
    tokenizer: MlxTokenizer
    architecture: str
    train_context_length: int
    metadata: dict[str, str]
    size_bytes: int


# GGUF tensor name -> mlx-lm parameter name (llama family).
_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GLOBAL_NAMES = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}
_SUFFIXES = ("weight", "scales", "biases", "bias")

# GGUF architectures we map onto an mlx-lm model file, and the mlx-lm `model_type` to use.
_ARCHITECTURES = {"llama": "llama", "mistral": "llama"}


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _rename(name: str) -> str | None:
    prefix, _, suffix = name.rpartition(".")
    if suffix not in _SUFFIXES:
        return None
    if m := re.fullmatch(r"blk\.(\d+)\.(\w+)", prefix):
        target = _LAYER_NAMES.get(m.group(2))
        return f"model.layers.{m.group(1)}.{target}.{suffix}" if target else None
    target = _GLOBAL_NAMES.get(prefix)
    return f"{target}.{suffix}" if target else None


def _unpermute(w: Any, n_head: int) -> Any:
    """Inverse of convert_hf_to_gguf's `LlamaModel.permute` on the rows (output features).

    The converter reorders each head's rows from (half, pair) to (pair, half) so llama.cpp can
    rotate adjacent pairs; mlx-lm's llama rotates the two halves, as Hugging Face does. Packed
    quantized rows, their scales and their biases are all per output row, so the same row
    shuffle applies to each.
    """
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _model_args(meta: dict[str, Any], arch: str, weights: dict[str, Any]) -> dict[str, Any]:
    def get(key: str, default: Any = None) -> Any:
        value = meta.get(f"{arch}.{key}")
        return default if value is None else _scalar(value)

    n_head = int(get("attention.head_count"))
    hidden = int(get("embedding_length"))
    args: dict[str, Any] = {
        "model_type": _ARCHITECTURES[arch],
        "hidden_size": hidden,
        "num_hidden_layers": int(get("block_count")),
        "intermediate_size": int(get("feed_forward_length")),
        "num_attention_heads": n_head,
        "num_key_value_heads": int(get("attention.head_count_kv", n_head)),
        "rms_norm_eps": float(get("attention.layer_norm_rms_epsilon", 1e-5)),
        "vocab_size": len(meta["tokenizer.ggml.tokens"]),
        "rope_theta": float(get("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(get("context_length", 4096)),
        "tie_word_embeddings": "output.weight" not in weights,
    }
    head_dim = get("attention.key_length")
    if head_dim is not None and int(head_dim) != hidden // n_head:
        args["head_dim"] = int(head_dim)
    scaling = get("rope.scaling.type")
    if scaling == "linear":
        args["rope_scaling"] = {"type": "linear", "factor": float(get("rope.scaling.factor"))}
    elif scaling not in (None, "none"):
        raise MlxLoadError(f"the MLX engine does not support GGUF rope scaling {scaling!r} yet")
    if "rope_freqs.weight" in weights:
        raise MlxLoadError(
            "this GGUF uses per-dimension rope frequencies (Llama 3.1 style), which the MLX"
            " engine does not map yet; use an MLX model folder or --engine llama.cpp"
        )
    return args


def load_gguf(path: Path) -> LoadedModel:
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm.utils import _get_classes, infer_quant_config

    tensors, meta = mx.load(str(path), return_metadata=True)
    arch = str(meta.get("general.architecture", ""))
    if arch not in _ARCHITECTURES:
        raise MlxLoadError(
            f"the MLX engine does not map GGUF architecture {arch!r} yet"
            f" (supported: {', '.join(sorted(_ARCHITECTURES))}); use --engine llama.cpp"
        )
    args = _model_args(meta, arch, tensors)
    weights: dict[str, Any] = {}
    for name, value in tensors.items():
        target = _rename(name)
        if target is None:
            continue
        if ".self_attn.q_proj." in target and not target.endswith(".bias"):
            value = _unpermute(value, args["num_attention_heads"])
        elif ".self_attn.k_proj." in target and not target.endswith(".bias"):
            value = _unpermute(value, args["num_key_value_heads"])
        weights[target] = value

    model_class, args_class = _get_classes(args)
    model = model_class(args_class.from_dict(args))

    def predicate(p: str, m: Any) -> Any:
        if not hasattr(m, "to_quantized") or f"{p}.scales" not in weights:
            return False
        return infer_quant_config(p, m, weights)

    nn.quantize(model, class_predicate=predicate)
    if hasattr(model, "sanitize"):
        weights = model.sanitize(weights)
    model.load_weights(list(weights.items()), strict=True)
    model.eval()
    mx.eval(model.parameters())

    tokenizer = from_gguf_metadata(meta)
    text_meta = {
        k: str(_scalar(v))
        for k, v in meta.items()
        if not k.startswith("tokenizer.ggml.") and not isinstance(v, list)
    }
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        architecture=arch,
        train_context_length=args["max_position_embeddings"],
        metadata=text_meta,
        size_bytes=path.stat().st_size,
    )


def load_folder(path: Path) -> LoadedModel:
    """An MLX (mlx-community) or Hugging Face safetensors folder, through mlx-lm itself."""
    import mlx_lm

    if not (path / "config.json").is_file():
        raise MlxLoadError(f"{path} has no config.json: not an MLX / Hugging Face model folder")
    model, wrapper, config = mlx_lm.load(str(path), return_config=True)
    tokenizer = from_hf(wrapper)
    train_ctx = int(
        config.get("max_position_embeddings")
        or config.get("text_config", {}).get("max_position_embeddings")
        or 4096
    )
    size = sum(f.stat().st_size for f in path.glob("*.safetensors"))
    meta = {"general.name": path.name, "general.architecture": config.get("model_type", "")}
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        architecture=str(config.get("model_type", "unknown")),
        train_context_length=train_ctx,
        metadata=meta,
        size_bytes=size,
    )


def load(path: str | Path) -> LoadedModel:
    path = Path(path)
    if path.is_dir():
        return load_folder(path)
    if not path.is_file():
        raise MlxLoadError(f"model not found: {path}")
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise MlxLoadError(f"{path.name} is neither a GGUF file nor a model folder")
    return load_gguf(path)
