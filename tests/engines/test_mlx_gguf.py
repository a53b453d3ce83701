"""The default GGUF under MLX: tokenizer, metadata and first-token parity with llama.cpp."""

from __future__ import annotations

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")
pytest.importorskip("mlx_lm")

from impetus.engines import mlx_gguf  # noqa: E402
from impetus.engines.llama_ctypes import ContextConfig, LlamaContext, LlamaModel  # noqa: E402
from tests.conftest import MODEL_PATH  # noqa: E402

TEXTS = [
    "Hello, world!",
    "The year 2024 had 366 days.",
    "  leading spaces\n\n\ttabs and\r\nCRLF",
    "naïve café — déjà vu 🤖🚀",
    "<|im_start|>user\nHi<|im_end|>\n",
    "def f(x):\n    return x**2  # comment",
    "I'm sure you're right; they'll see, we'd say",
    "中文字符和日本語のテキスト",
    "12345678901234567890",
    "<|endoftext|>text<repo_name> trailing   ",
    "",
]

# Short prompts keep the test quick: mlx's CPU kernels are slow.
PROMPTS = [
    "The capital of France is",
    "Once upon a time",
    "def fibonacci(n):",
    "The quick brown fox",
    "1, 2, 3, 4,",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "Water boils at",
    "import numpy as",
    "My favourite colour is",
    "Translate to French: cat ->",
]


@pytest.fixture(scope="module")
def loaded():
    return mlx_gguf.load(MODEL_PATH)


@pytest.fixture(scope="module")
def llama():
    model = LlamaModel(MODEL_PATH)
    yield model
    model.close()


def test_quantized_weights_stay_quantized(loaded):
    import mlx.nn as nn

    attn = loaded.model.model.layers[0].self_attn
    assert isinstance(attn.q_proj, nn.QuantizedLinear)
    assert (attn.q_proj.bits, attn.q_proj.group_size) == (4, 32)
    assert isinstance(loaded.model.model.embed_tokens, nn.QuantizedEmbedding)


@pytest.mark.parametrize("parse_special", [False, True])
@pytest.mark.parametrize("add_special", [False, True])
def test_tokenizer_matches_llama_cpp(loaded, llama, add_special, parse_special):
    tok = loaded.tokenizer
    for text in TEXTS:
        kw = {"add_special": add_special, "parse_special": parse_special}
        assert tok.encode(text, **kw) == llama.tokenize(text, **kw), text


def test_token_pieces_match_llama_cpp(loaded, llama):
    tok = loaded.tokenizer
    assert tok.vocab_size == llama.n_vocab
    assert all(tok.piece(i) == llama.piece(i) for i in range(llama.n_vocab))


def test_special_tokens_and_template_match_llama_cpp(loaded, llama):
    ref = llama.info("x", 4096)
    tok = loaded.tokenizer
    assert tuple(sorted(tok.eog_ids)) == ref.eos_token_ids
    assert tok.token_text(tok.bos_id) == ref.bos_token
    assert tok.token_text(tok.eos_id) == ref.eos_token
    assert tok.add_bos == ref.add_bos
    assert tok.chat_template == ref.chat_template
    assert loaded.train_context_length == llama.train_ctx


def test_greedy_first_token_matches_llama_cpp_argmax(loaded, llama):
    ctx = LlamaContext(llama, ContextConfig(n_ctx=256, n_seq_max=1))
    try:
        mismatches = []
        for prompt in PROMPTS:
            ids = llama.tokenize(prompt, add_special=True, parse_special=True)
            ctx.clear()
            assert ctx.decode([(t, i, 0, i == len(ids) - 1) for i, t in enumerate(ids)]) == 0
            row = np.asarray(ctx.logits(len(ids) - 1))
            expected = int(np.argmax(row))
            got = int(mx.argmax(loaded.model(mx.array([ids]))[0, -1]).item())
            # MLX computes in float16 and llama.cpp quantizes keys and queries to q8_0: a
            # near-tie may go either way (the chat prompt's first token: 57 vs 504 are 0.03
            # apart in stock llama.cpp, 0.05 in MLX, 0.13 in our patched build). Any other
            # pick means the two models differ.
            if got != expected and row[got] < row[expected] - 0.25:
                mismatches.append((prompt, got, expected, float(row[expected] - row[got])))
        assert not mismatches
    finally:
        ctx.close()


def test_not_a_model_is_a_clear_error(tmp_path):
    bogus = tmp_path / "x.gguf"
    bogus.write_bytes(b"nope")
    with pytest.raises(mlx_gguf.MlxLoadError):
        mlx_gguf.load(bogus)
    with pytest.raises(mlx_gguf.MlxLoadError):
        mlx_gguf.load(tmp_path)  # a folder without config.json
