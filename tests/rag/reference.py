"""An independent all-MiniLM-L6-v2 forward pass: numpy on the safetensors, `tokenizers` on
tokenizer.json. Slow and simple; the tests compare llama.cpp's vectors against it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from impetus.rag.convert import read_safetensors


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7); numpy has no erf.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-x * x))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class ReferenceMiniLM:
    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        self.cfg = json.loads((model_dir / "config.json").read_text())
        st = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.max_len = int(st["max_seq_length"])
        self.w = {
            k: np.asarray(v, np.float64)
            for k, v in read_safetensors(model_dir / "model.safetensors").items()
        }
        self.tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(self.max_len)

    def tokenize(self, text: str) -> list[int]:
        return list(self.tok.encode(text).ids)

    def embed(self, text: str) -> np.ndarray:
        ids = self.tokenize(text)
        w, cfg = self.w, self.cfg
        eps = cfg["layer_norm_eps"]
        n_head = cfg["num_attention_heads"]
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: len(ids)]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        n, d = x.shape
        hd = d // n_head
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def lin(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q = lin(x, "attention.self.query").reshape(n, n_head, hd).transpose(1, 0, 2)
            k = lin(x, "attention.self.key").reshape(n, n_head, hd).transpose(1, 0, 2)
            v = lin(x, "attention.self.value").reshape(n, n_head, hd).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(n, d)
            x = _layer_norm(
                x + lin(ctx, "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            h = _gelu(lin(x, "intermediate.dense"))
            x = _layer_norm(
                x + lin(h, "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                eps,
            )
        pooled = x.mean(0)
        return (pooled / np.linalg.norm(pooled)).astype(np.float32)
