"""Convert a BERT-family sentence-transformers model (safetensors + tokenizer) to GGUF.

A compact, torch-free take on llama.cpp's `convert_hf_to_gguf.py` `BertModel`: the same tensor
names (via gguf's `TensorNameMap`), the same `bert.*` keys, the WordPiece vocab in llama.cpp's
"phantom space" form, and the pooling type from the sentence-transformers `modules.json`. We add
`impetus.*` keys: the converter stamp (a converter change re-converts cached files), the
sentence-transformers `max_seq_length` and whether its pipeline ends in `Normalize`.

`ensure_gguf` is the entry point: idempotent, and the file only ever appears whole.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Bump when the output changes (names, keys, dtypes): cached GGUFs with another stamp are redone.
CONVERTER_VERSION = 1
STAMP_KEY = "impetus.converter"
MAX_SEQ_KEY = "impetus.max_seq_length"
NORMALIZE_KEY = "impetus.normalize"


class ConversionError(Exception):
    pass


@dataclass(frozen=True)
class SentenceTransformerSpec:
    """What the sentence-transformers files say beyond the BERT config."""

    pooling: str  # "mean" | "cls" | "last"
    normalize: bool
    max_seq_length: int | None


def stamp(dtype: str) -> str:
    return f"bert-st/{CONVERTER_VERSION}/{dtype}"


# -- safetensors, read with numpy (the format is a JSON header and raw little-endian arrays) ----

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors as float32 arrays (memory-mapped where no conversion is needed)."""
    with path.open("rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        kind = info["dtype"]
        if kind not in _ST_DTYPES:
            raise ConversionError(f"{path.name}: unsupported tensor dtype {kind} for {name}")
        start, end = info["data_offsets"]
        arr = raw[start:end].view(_ST_DTYPES[kind]).reshape(info["shape"])
        if kind == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        elif kind != "I64":
            arr = arr.astype(np.float32, copy=False)
        out[name] = arr
    return out


# -- the model directory --------------------------------------------------------------------


def _load_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def read_sentence_transformer_spec(model_dir: Path) -> SentenceTransformerSpec:
    pooling, normalize = "cls", False  # a bare BERT checkpoint: llama.cpp's usual default
    modules_path = model_dir / "modules.json"
    if modules_path.is_file():
        for module in _load_json(modules_path):
            kind = module.get("type", "")
            if kind.endswith("Pooling"):
                cfg = _load_json(model_dir / module.get("path", "") / "config.json")
                if cfg.get("pooling_mode_mean_tokens"):
                    pooling = "mean"
                elif cfg.get("pooling_mode_cls_token"):
                    pooling = "cls"
                elif cfg.get("pooling_mode_lasttoken"):
                    pooling = "last"
                elif cfg.get("pooling_mode") in ("mean", "cls", "lasttoken"):
                    pooling = {"lasttoken": "last"}.get(cfg["pooling_mode"], cfg["pooling_mode"])
                else:
                    raise ConversionError("only mean, cls and last-token pooling are supported")
            elif kind.endswith("Normalize"):
                normalize = True
            elif kind.endswith("Dense"):
                raise ConversionError("sentence-transformers Dense heads are not supported")
    max_seq = None
    st_cfg = model_dir / "sentence_bert_config.json"
    if st_cfg.is_file():
        max_seq = _load_json(st_cfg).get("max_seq_length")
    return SentenceTransformerSpec(pooling, normalize, max_seq)


def _read_vocab(model_dir: Path) -> tuple[list[str], list[int]]:
    """Tokens by id, and their gguf token types (added special tokens are CONTROL)."""
    import gguf

    tok_json = model_dir / "tokenizer.json"
    specials: set[str] = set()
    if tok_json.is_file():
        data = _load_json(tok_json)
        model = data.get("model", {})
        if model.get("type") != "WordPiece":
            raise ConversionError(f"expected a WordPiece tokenizer, got {model.get('type')}")
        vocab: dict[str, int] = dict(model["vocab"])
        for added in data.get("added_tokens", []):
            vocab[added["content"]] = added["id"]
            if added.get("special"):
                specials.add(added["content"])
    elif (model_dir / "vocab.txt").is_file():
        lines = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
        vocab = {tok: i for i, tok in enumerate(lines)}
        specials = {t for t in vocab if t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")}
    else:
        raise ConversionError(f"no tokenizer.json or vocab.txt in {model_dir}")
    by_id = {i: t for t, i in vocab.items()}
    tokens: list[str] = []
    types: list[int] = []
    for i in range(max(by_id) + 1):
        tok = by_id.get(i)
        if tok is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif tok in specials:
            tokens.append(tok)
            types.append(gguf.TokenType.CONTROL)
        else:
            # llama.cpp's WPM vocab marks word starts with U+2581 instead of marking "##" pieces.
            tokens.append(tok[2:] if tok.startswith("##") else "\u2581" + tok)
            types.append(gguf.TokenType.NORMAL)
    return tokens, types


def _bert_normalizer(model_dir: Path) -> tuple[bool, bool]:
    """(lowercase, strip_accents) as the HF BertNormalizer applies them."""
    lowercase, strip = True, None
    tok_json = model_dir / "tokenizer.json"
    if tok_json.is_file():
        norm = _load_json(tok_json).get("normalizer") or {}
        if norm.get("type") == "BertNormalizer":
            lowercase = bool(norm.get("lowercase", True))
            strip = norm.get("strip_accents")
    else:
        cfg_path = model_dir / "tokenizer_config.json"
        if cfg_path.is_file():
            cfg = _load_json(cfg_path)
            lowercase = bool(cfg.get("do_lower_case", True))
            strip = cfg.get("strip_accents")
    return lowercase, (lowercase if strip is None else bool(strip))


def _tensor_name(hf_name: str, name_map: Any) -> str | None:
    """The GGUF name for an HF tensor, or None for tensors the embedding graph does not use."""
    if hf_name.startswith("bert."):
        hf_name = hf_name[5:]
    if hf_name.endswith(".gamma"):
        hf_name = hf_name[:-6] + ".weight"
    elif hf_name.endswith(".beta"):
        hf_name = hf_name[:-5] + ".bias"
    if hf_name == "embeddings.position_ids" or hf_name.startswith(("pooler.", "cls.")):
        return None
    name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if name is None:
        raise ConversionError(f"cannot map tensor {hf_name}")
    return name


def convert(
    model_dir: Path, out_path: Path, *, dtype: str = "f16", name: str | None = None
) -> Path:
    """Write `out_path` (atomically) from a sentence-transformers BERT directory."""
    import gguf

    if dtype not in ("f16", "f32"):
        raise ValueError("dtype must be f16 or f32")
    model_dir = Path(model_dir)
    config = _load_json(model_dir / "config.json")
    if config.get("model_type") != "bert":
        raise ConversionError(f"only BERT models are supported, got {config.get('model_type')}")
    if config.get("hidden_act", "gelu") != "gelu":
        raise ConversionError(f"unsupported activation {config.get('hidden_act')}")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ConversionError("only absolute position embeddings are supported")
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ConversionError(f"no model.safetensors in {model_dir}")
    spec = read_sentence_transformer_spec(model_dir)
    tokens, toktypes = _read_vocab(model_dir)
    n_layers = int(config["num_hidden_layers"])
    pooling = {
        "mean": gguf.PoolingType.MEAN,
        "cls": gguf.PoolingType.CLS,
        "last": gguf.PoolingType.LAST,
    }[spec.pooling]

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=out_path.name + ".", suffix=".partial", dir=out_path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        w = gguf.GGUFWriter(tmp, arch="bert")
        w.add_string(STAMP_KEY, stamp(dtype))  # early, so `read_stamp` stops after a few keys
        w.add_name(name or model_dir.name)
        w.add_file_type(
            gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32
        )
        w.add_block_count(n_layers)
        w.add_context_length(int(config["max_position_embeddings"]))
        w.add_embedding_length(int(config["hidden_size"]))
        w.add_feed_forward_length(int(config["intermediate_size"]))
        w.add_head_count(int(config["num_attention_heads"]))
        w.add_layer_norm_eps(float(config.get("layer_norm_eps", 1e-12)))
        w.add_causal_attention(False)
        w.add_pooling_type(pooling)

        w.add_token_type_count(int(config.get("type_vocab_size", 1)))
        w.add_tokenizer_model("bert")
        w.add_tokenizer_pre("default")  # llama.cpp ignores the pre-tokenizer for WordPiece
        w.add_token_list(tokens)
        w.add_token_types(toktypes)
        kinds = ("bos", "eos", "unk", "sep", "pad", "mask")  # llama.cpp has no separate cls id
        special = gguf.SpecialVocab(model_dir, n_vocab=len(tokens), special_token_types=kinds)
        special.add_to_gguf(w, quiet=True)
        lowercase, strip_accents = _bert_normalizer(model_dir)
        w.add_bool("tokenizer.ggml.normalizer.lowercase", lowercase)
        w.add_bool("tokenizer.ggml.normalizer.strip_accents", strip_accents)

        w.add_bool(NORMALIZE_KEY, spec.normalize)
        if spec.max_seq_length:
            w.add_uint32(MAX_SEQ_KEY, int(spec.max_seq_length))

        name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, n_layers)
        for hf_name, data in read_safetensors(weights).items():
            gguf_name = _tensor_name(hf_name, name_map)
            if gguf_name is None:
                continue
            # As upstream: vectors, norms and the small position/type tables stay f32.
            keep_f32 = (
                dtype == "f32"
                or data.ndim <= 1
                or not gguf_name.endswith(".weight")
                or gguf_name.endswith("_norm.weight")
                or gguf_name.startswith(("position_embd", "token_types"))
            )
            w.add_tensor(
                gguf_name, np.ascontiguousarray(data, np.float32 if keep_f32 else np.float16)
            )
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        tmp.chmod(0o644)  # mkstemp makes it private
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def read_stamp(path: Path) -> str | None:
    """The converter stamp in a GGUF we wrote, or None (missing, unreadable, or not ours).

    Reads the key-value header directly: `gguf.GGUFReader` parses the whole vocabulary, which
    takes most of a second, and we write the stamp among the first keys.
    """
    try:
        with Path(path).open("rb") as fh:
            magic, version, _n_tensors, n_kv = struct.unpack("<4sIQQ", fh.read(24))
            if magic != b"GGUF" or version < 2:
                return None
            for _ in range(min(n_kv, 8)):
                key = _read_str(fh)
                (kind,) = struct.unpack("<I", fh.read(4))
                if key == STAMP_KEY:
                    return _read_str(fh) if kind == _GGUF_STRING else None
                _skip_value(fh, kind)
    except (OSError, struct.error, UnicodeDecodeError, ValueError):
        return None
    return None


_GGUF_STRING, _GGUF_ARRAY = 8, 9
_GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _read_str(fh: Any) -> str:
    (n,) = struct.unpack("<Q", fh.read(8))
    if n > 1 << 20:
        raise ValueError("implausible string length")
    return fh.read(n).decode("utf-8")


def _skip_value(fh: Any, kind: int) -> None:
    if kind == _GGUF_STRING:
        (n,) = struct.unpack("<Q", fh.read(8))
        fh.seek(n, os.SEEK_CUR)
    elif kind == _GGUF_ARRAY:
        sub, count = struct.unpack("<IQ", fh.read(12))
        if sub in _GGUF_SIZES:
            fh.seek(_GGUF_SIZES[sub] * count, os.SEEK_CUR)
        else:
            for _ in range(count):
                _skip_value(fh, sub)
    elif kind in _GGUF_SIZES:
        fh.seek(_GGUF_SIZES[kind], os.SEEK_CUR)
    else:
        raise ValueError(f"unknown GGUF value type {kind}")


def ensure_gguf(model_dir: Path, out_path: Path, *, dtype: str = "f16") -> Path:
    """`out_path`, converting only when it is missing or was written by another converter."""
    out_path = Path(out_path)
    if out_path.is_file() and read_stamp(out_path) == stamp(dtype):
        return out_path
    return convert(model_dir, out_path, dtype=dtype)
