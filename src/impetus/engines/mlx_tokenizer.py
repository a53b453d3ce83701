"""Tokenizers for the MLX engine, with llama.cpp's semantics.

The MLX engine must tokenize exactly as the llama.cpp engine does, so a prompt gives the same ids
on either engine. For a GGUF we rebuild the byte-level BPE from the file's own vocabulary, merges
and pre-tokenizer name (llama.cpp's regexes, `src/llama-vocab.cpp`) with the `tokenizers`
library. For an MLX/Hugging Face folder we wrap the folder's tokenizer. Either way the engine
gets the same small surface: `encode`, `piece` (a token's bytes, control tokens empty),
`is_eog`, and the special tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

# GGUF token types (llama.cpp `llama_token_type`).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# tokenizer.ggml.pre -> (regexes applied in turn, ignore_merges, default add_bos).
# Only the families we have checked against llama.cpp; others are refused with a clear error.
_PRE_TOKENIZERS: dict[str, tuple[tuple[str, ...], bool, bool]] = {
    **dict.fromkeys(("gpt-2", "phi-2", "mpt", "olmo"), ((_GPT2,), False, False)),
    **dict.fromkeys(
        ("smollm", "starcoder", "refact", "command-r", "codeshell"),
        ((r"\p{N}", _GPT2), False, False),
    ),
    **dict.fromkeys(
        ("llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"), ((_LLAMA3,), True, True)
    ),
    **dict.fromkeys(("qwen2", "deepseek-r1-qwen"), ((_QWEN2,), False, False)),
}

# Token texts llama.cpp treats as end-of-generation (`llama_vocab::impl::load`), including
# its fill-in-the-middle pad/repo/file-separator tokens.
_EOG_TEXTS = frozenset(
    {
        "<|fim_pad|>",
        "<fim-pad>",
        "<fim_pad>",
        "<PAD>",
        "[PAD]",
        "<|fim_repo|>",
        "<|repo_name|>",
        "<fim-repo>",
        "<REPO>",
        "<reponame>",
        "<|file_sep|>",
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<|eom_id|>",
        "<EOT>",
        "_<EOT>",
        "<|end_of_text|>",
        "<end_of_utterance>",
    }
)


class TokenizerError(ValueError):
    pass


@cache
def byte_decoder() -> dict[str, int]:
    """GPT-2's printable-unicode alphabet back to bytes (inverse of `bytes_to_unicode`)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    bs += range(ord("®"), ord("ÿ") + 1)
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def byte_level_bytes(text: str) -> bytes | None:
    dec = byte_decoder()
    try:
        return bytes(dec[ch] for ch in text)
    except KeyError:
        return None


class MlxTokenizer:
    """Encode text, and the bytes of every token, the way llama.cpp does it."""

    def __init__(
        self,
        *,
        texts: Sequence[str],
        pieces: Sequence[bytes],
        eog_ids: set[int],
        bos_id: int | None,
        eos_id: int | None,
        add_bos: bool,
        add_eos: bool,
        chat_template: str | None,
        encode_plain: Any,
        encode_special: Any,
    ) -> None:
        self.texts = list(texts)
        self.pieces = list(pieces)
        self.eog_ids = frozenset(eog_ids)
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.add_bos = add_bos
        self.add_eos = add_eos
        self.chat_template = chat_template
        self._encode_plain = encode_plain
        self._encode_special = encode_special

    @property
    def vocab_size(self) -> int:
        return len(self.texts)

    def encode(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        ids = list((self._encode_special if parse_special else self._encode_plain)(text))
        if add_special:
            if self.add_bos and self.bos_id is not None:
                ids.insert(0, self.bos_id)
            if self.add_eos and self.eos_id is not None:
                ids.append(self.eos_id)
        return ids

    def piece(self, token: int) -> bytes:
        return self.pieces[token] if 0 <= token < len(self.pieces) else b""

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", "replace")

    def is_eog(self, token: int) -> bool:
        return token in self.eog_ids

    def token_text(self, token: int | None) -> str:
        return self.texts[token] if token is not None and 0 <= token < len(self.texts) else ""


def _int(meta: dict[str, Any], key: str) -> int | None:
    value = meta.get(key)
    if value is None:
        return None
    return int(value.item() if hasattr(value, "item") else value)


def _bool(meta: dict[str, Any], key: str) -> bool | None:
    value = meta.get(key)
    if value is None:
        return None
    return bool(value.item() if hasattr(value, "item") else value)


def from_gguf_metadata(meta: dict[str, Any]) -> MlxTokenizer:
    """Build the tokenizer from a GGUF's `tokenizer.ggml.*` metadata (as `mx.load` returns it)."""
    from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers

    kind = meta.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise TokenizerError(
            f"the MLX engine reads only byte-level BPE (gpt2) tokenizers from GGUF, not {kind!r};"
            " use an MLX model folder or --engine llama.cpp"
        )
    pre = str(meta.get("tokenizer.ggml.pre", "gpt-2"))
    if pre not in _PRE_TOKENIZERS:
        raise TokenizerError(
            f"the MLX engine does not know the GGUF pre-tokenizer {pre!r} yet;"
            " use an MLX model folder or --engine llama.cpp"
        )
    regexes, ignore_merges, default_add_bos = _PRE_TOKENIZERS[pre]
    texts: list[str] = list(meta["tokenizer.ggml.tokens"])
    types_raw = meta.get("tokenizer.ggml.token_type")
    types = types_raw.tolist() if types_raw is not None else [NORMAL] * len(texts)
    merges = [tuple(m.split(" ", 1)) for m in meta.get("tokenizer.ggml.merges", [])]

    vocab = {t: i for i, t in enumerate(texts)}
    eog: set[int] = set()
    pieces: list[bytes] = []
    for i, (text, kind_) in enumerate(zip(texts, types, strict=True)):
        if kind_ == CONTROL or text in _EOG_TEXTS:
            pieces.append(b"")
        elif kind_ == USER_DEFINED:
            pieces.append(text.encode())
        else:
            raw = byte_level_bytes(text)
            pieces.append(raw if raw is not None else text.encode())
        if text in _EOG_TEXTS:
            eog.add(i)

    def build(special_kinds: tuple[int, ...]) -> Any:
        tok = Tokenizer(
            models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges, fuse_unk=False)
        )
        splits = [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in regexes]
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [*splits, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
        added = [
            AddedToken(t, special=k == CONTROL, normalized=False)
            for t, k in zip(texts, types, strict=True)
            if k in special_kinds
        ]
        if added:
            tok.add_special_tokens(added)
        return tok

    plain = build((USER_DEFINED,))
    special = build((USER_DEFINED, CONTROL))

    bos = _int(meta, "tokenizer.ggml.bos_token_id")
    eos = _int(meta, "tokenizer.ggml.eos_token_id")
    for key in ("eos_token_id", "eot_token_id", "eom_token_id"):
        tid = _int(meta, f"tokenizer.ggml.{key}")
        if tid is not None and 0 <= tid < len(texts):
            eog.add(tid)
            pieces[tid] = b"" if types[tid] == CONTROL else pieces[tid]
    add_bos = _bool(meta, "tokenizer.ggml.add_bos_token")
    add_eos = _bool(meta, "tokenizer.ggml.add_eos_token")

    return MlxTokenizer(
        texts=texts,
        pieces=pieces,
        eog_ids=eog,
        bos_id=bos,
        eos_id=eos,
        add_bos=default_add_bos if add_bos is None else add_bos,
        add_eos=bool(add_eos),
        chat_template=meta.get("tokenizer.chat_template"),
        encode_plain=lambda s: plain.encode(s, add_special_tokens=False).ids,
        encode_special=lambda s: special.encode(s, add_special_tokens=False).ids,
    )


def from_hf(wrapper: Any) -> MlxTokenizer:
    """Wrap the tokenizer `mlx_lm.load` returns for a model folder."""
    hf = getattr(wrapper, "_tokenizer", wrapper)
    n = max(len(hf), *(i + 1 for i in hf.get_vocab().values()))
    texts = [""] * n
    for text, i in hf.get_vocab().items():
        texts[i] = text
    special_ids = set(hf.all_special_ids)
    spm = "▁" in "".join(texts[:1000]) and "<0x0A>" in hf.get_vocab()
    pieces: list[bytes] = []
    for i, text in enumerate(texts):
        if i in special_ids:
            pieces.append(b"")
        elif spm:
            if len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
                pieces.append(bytes([int(text[3:5], 16)]))
            else:
                pieces.append(text.replace("▁", " ").encode())
        else:
            raw = byte_level_bytes(text)
            pieces.append(raw if raw is not None else text.encode())
    eog = set(getattr(wrapper, "eos_token_ids", None) or ())
    if hf.eos_token_id is not None:
        eog.add(hf.eos_token_id)
    eog |= {i for i, t in enumerate(texts) if t in _EOG_TEXTS and i in special_ids}
    bos = hf.bos_token_id
    # Whether the tokenizer adds BOS by itself: ask it.
    probe = hf.encode("a", add_special_tokens=True)
    add_bos = bos is not None and bool(probe) and probe[0] == bos

    def encode(text: str, split_special: bool) -> list[int]:
        return hf.encode(text, add_special_tokens=False, split_special_tokens=split_special)

    return MlxTokenizer(
        texts=texts,
        pieces=pieces,
        eog_ids=eog,
        bos_id=bos,
        eos_id=hf.eos_token_id,
        add_bos=add_bos,
        add_eos=False,
        chat_template=getattr(hf, "chat_template", None),
        encode_plain=lambda s: encode(s, True),
        encode_special=lambda s: encode(s, False),
    )
