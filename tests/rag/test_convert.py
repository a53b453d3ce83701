"""safetensors + tokenizer -> GGUF: names, keys, dtypes, the cache stamp, atomic writes."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest

from impetus.rag import bundled_embedder, convert


def _field(reader: gguf.GGUFReader, key: str):
    f = reader.get_field(key)
    assert f is not None, key
    return f.contents()


def test_converted_file_has_bert_layout(minilm_dir: Path, tmp_path: Path) -> None:
    out = convert.convert(minilm_dir, tmp_path / "m.gguf")
    r = gguf.GGUFReader(out)
    assert _field(r, "general.architecture") == "bert"
    assert _field(r, "bert.block_count") == 6
    assert _field(r, "bert.embedding_length") == 384
    assert _field(r, "bert.feed_forward_length") == 1536
    assert _field(r, "bert.attention.head_count") == 12
    assert _field(r, "bert.context_length") == 512
    assert _field(r, "bert.attention.causal") is False
    assert _field(r, "bert.pooling_type") == int(gguf.PoolingType.MEAN)
    assert _field(r, "tokenizer.ggml.model") == "bert"
    assert _field(r, "tokenizer.ggml.token_type_count") == 2
    assert _field(r, "tokenizer.ggml.normalizer.lowercase") is True
    assert _field(r, "tokenizer.ggml.normalizer.strip_accents") is True
    assert _field(r, convert.NORMALIZE_KEY) is True
    assert _field(r, convert.MAX_SEQ_KEY) == 256
    tokens = _field(r, "tokenizer.ggml.tokens")
    types = _field(r, "tokenizer.ggml.token_type")
    assert len(tokens) == 30522
    assert tokens[101] == "[CLS]" and types[101] == gguf.TokenType.CONTROL
    assert tokens[7592] == "\u2581hello"  # word start
    assert tokens[2015] == "s"  # "##s", a continuation piece
    tensors = {t.name: t for t in r.tensors}
    assert len(tensors) == 5 + 16 * 6
    assert tensors["token_embd.weight"].tensor_type == gguf.GGMLQuantizationType.F16
    assert tensors["blk.5.ffn_down.weight"].tensor_type == gguf.GGMLQuantizationType.F16
    for name in (
        "position_embd.weight",
        "token_types.weight",
        "blk.0.attn_q.bias",
        "token_embd_norm.weight",
    ):
        assert tensors[name].tensor_type == gguf.GGMLQuantizationType.F32


def test_f32_conversion_is_lossless(minilm_dir: Path, tmp_path: Path) -> None:
    out = convert.convert(minilm_dir, tmp_path / "m32.gguf", dtype="f32")
    r = gguf.GGUFReader(out)
    q = next(t for t in r.tensors if t.name == "blk.2.attn_q.weight")
    source = convert.read_safetensors(minilm_dir / "model.safetensors")
    expected = source["encoder.layer.2.attention.self.query.weight"]
    assert np.array_equal(np.asarray(q.data).reshape(expected.shape), expected)


def test_ensure_is_idempotent_and_stamped(minilm_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache" / "m.gguf"
    convert.ensure_gguf(minilm_dir, out)
    assert convert.read_stamp(out) == convert.stamp("f16")
    before = out.stat().st_mtime_ns
    convert.ensure_gguf(minilm_dir, out)
    assert out.stat().st_mtime_ns == before
    assert [p.name for p in out.parent.iterdir()] == ["m.gguf"]  # no partial files left
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)


def test_a_converter_change_reconverts(
    minilm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = convert.ensure_gguf(minilm_dir, tmp_path / "m.gguf")
    monkeypatch.setattr(convert, "CONVERTER_VERSION", convert.CONVERTER_VERSION + 1)
    assert convert.read_stamp(out) != convert.stamp("f16")
    convert.ensure_gguf(minilm_dir, out)
    assert convert.read_stamp(out) == convert.stamp("f16")


def test_read_stamp_of_foreign_files(tmp_path: Path) -> None:
    assert convert.read_stamp(tmp_path / "missing.gguf") is None
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + os.urandom(64))
    assert convert.read_stamp(junk) is None
    plain = tmp_path / "plain.gguf"
    w = gguf.GGUFWriter(plain, arch="bert")
    w.add_block_count(1)
    w.add_tensor("x", np.zeros(4, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    assert convert.read_stamp(plain) is None


def test_failed_conversion_leaves_nothing(minilm_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(minilm_dir, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["model_type"] = "llama"
    (bad / "config.json").write_text(json.dumps(cfg))
    out_dir = tmp_path / "out"
    with pytest.raises(convert.ConversionError):
        convert.convert(bad, out_dir / "m.gguf")
    assert not out_dir.exists() or not any(out_dir.iterdir())
    # A failure while writing (truncated weights) cleans its partial file too.
    cfg["model_type"] = "bert"
    (bad / "config.json").write_text(json.dumps(cfg))
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: 1 << 20])
    with pytest.raises(Exception):  # noqa: B017 (whatever numpy raises on a short file)
        convert.convert(bad, out_dir / "m.gguf")
    assert not any(out_dir.iterdir())


def test_read_safetensors_dtypes(tmp_path: Path) -> None:
    values = np.array([1.5, -2.25, 3.0], np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    f16 = values.astype(np.float16).tobytes()
    header = {
        "a": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]},
        "b": {"dtype": "F16", "shape": [3], "data_offsets": [6, 12]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bf16 + f16)
    got = convert.read_safetensors(path)
    assert got["a"].dtype == np.float32 and np.array_equal(got["a"], values)
    assert np.array_equal(got["b"], values)


def test_sentence_transformer_spec(minilm_dir: Path) -> None:
    spec = convert.read_sentence_transformer_spec(minilm_dir)
    assert spec == convert.SentenceTransformerSpec("mean", True, 256)


def test_bundled_install_uses_the_cache(minilm_gguf: Path) -> None:
    models_dir = minilm_gguf.parent.parent
    assert bundled_embedder.source_ready(models_dir)
    before = minilm_gguf.stat().st_mtime_ns
    assert bundled_embedder.install(models_dir) == minilm_gguf
    assert minilm_gguf.stat().st_mtime_ns == before
