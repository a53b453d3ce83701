"""Model files for the model-management tests: real GGUFs, broken ones, and tiny headers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from tests.conftest import MODEL_PATH


def copy_model(dest: Path) -> Path:
    """The bundled model under another name (a hard link when possible: same bytes, no copy)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(MODEL_PATH, dest)
    except OSError:
        shutil.copyfile(MODEL_PATH, dest)
    return dest


def truncated_model(dest: Path, keep: float = 0.5) -> Path:
    size = MODEL_PATH.stat().st_size
    with MODEL_PATH.open("rb") as src, dest.open("wb") as dst:
        dst.write(src.read(int(size * keep)))
    return dest


def corrupt_header(dest: Path) -> Path:
    """GGUF magic and version, then garbage."""
    rng = np.random.default_rng(0)
    dest.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + rng.bytes(4096))
    return dest


def tiny_gguf(dest: Path, arch: str = "llama") -> Path:
    """A well-formed GGUF with one tensor (for header-level tests, not loadable as a model)."""
    import gguf

    w = gguf.GGUFWriter(str(dest), arch)
    w.add_name("tiny")
    w.add_context_length(128)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dest


def _byte_level_tokenizer(dest: Path, specials: list[str]) -> int:
    """A byte-level BPE with no merges: every text tokenizes, 256 + len(specials) tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    tok.save(str(dest))
    return tok.get_vocab_size()


CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_mlx_folder(dest: Path, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """A real (random-weight) Llama in the mlx-community layout: config.json, two safetensors
    shards with model.safetensors.index.json, tokenizer.json and friends. mlx-lm loads it."""
    from safetensors.numpy import save_file

    dest.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = _byte_level_tokenizer(dest / "tokenizer.json", specials)
    heads, kv_heads = 4, 2
    head_dim = hidden // heads
    inter = hidden * 2
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "vocab_size": vocab,
        "max_position_embeddings": 512,
        "tie_word_embeddings": True,
        "bos_token_id": vocab - 3,
        "eos_token_id": vocab - 1,
        "torch_dtype": "float16",
    }
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    (dest / "generation_config.json").write_text(json.dumps({"eos_token_id": vocab - 1}))
    (dest / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": None,
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "chat_template": CHATML,
                "model_max_length": 512,
            }
        )
    )
    (dest / "special_tokens_map.json").write_text(
        json.dumps({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    )
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float16)

    shards: list[dict[str, np.ndarray]] = [{"model.embed_tokens.weight": w(vocab, hidden)}, {}]
    for i in range(layers):
        p = f"model.layers.{i}."
        shards[min(i, 1)] |= {
            p + "self_attn.q_proj.weight": w(heads * head_dim, hidden),
            p + "self_attn.k_proj.weight": w(kv_heads * head_dim, hidden),
            p + "self_attn.v_proj.weight": w(kv_heads * head_dim, hidden),
            p + "self_attn.o_proj.weight": w(hidden, heads * head_dim),
            p + "mlp.gate_proj.weight": w(inter, hidden),
            p + "mlp.up_proj.weight": w(inter, hidden),
            p + "mlp.down_proj.weight": w(hidden, inter),
            p + "input_layernorm.weight": np.ones(hidden, np.float16),
            p + "post_attention_layernorm.weight": np.ones(hidden, np.float16),
        }
    shards[1]["model.norm.weight"] = np.ones(hidden, np.float16)
    weight_map, total = {}, 0
    for n, tensors in enumerate(shards, 1):
        name = f"model-{n:05d}-of-{len(shards):05d}.safetensors"
        save_file(tensors, str(dest / name), metadata={"format": "mlx"})
        weight_map |= dict.fromkeys(tensors, name)
        total += sum(t.nbytes for t in tensors.values())
    (dest / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2)
    )
    return dest
