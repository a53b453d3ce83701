"""llama.cpp through llama-cpp-python's low-level (ctypes) API.

We skip the high-level `Llama` class: it owns a single sequence and hides the batch, and the
scheduler needs both. This module loads a GGUF, creates a context with N sequence slots, and
wraps tokenization, metadata and batches. Only the scheduler thread calls into a context.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import importlib.util
import os
import sys
import threading
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from impetus.engines.protocol import ModelInfo


def _import_low_level():
    """Import only llama-cpp-python's ctypes layer, not its package `__init__`.

    The package `__init__` also imports the high-level `Llama` class with numpy, diskcache and
    friends: about 17 MiB of RSS and 100 ms of start-up we never use. A stand-in package
    object lets `llama_cpp.llama_cpp` import on its own; any other attribute (e.g. `Llama`)
    still resolves, lazily, through the real module.
    """
    if "llama_cpp" in sys.modules:
        return importlib.import_module("llama_cpp.llama_cpp")
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("llama-cpp-python is not installed")
    pkg = types.ModuleType("llama_cpp")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__spec__ = spec
    pkg.__file__ = spec.origin
    sys.modules["llama_cpp"] = pkg
    low = importlib.import_module("llama_cpp.llama_cpp")

    def __getattr__(name: str):
        if hasattr(low, name):
            return getattr(low, name)
        high = importlib.import_module("llama_cpp.llama")
        return getattr(high, name)

    pkg.__getattr__ = __getattr__  # type: ignore[attr-defined]
    return low


ll = _import_low_level()

_backend_lock = threading.Lock()
_backend_ready = False


def _init_backend(verbose: bool) -> None:
    global _backend_ready
    with _backend_lock:
        if _backend_ready:
            return
        # ggml switches Q-matmuls to its "tiled" kernels at 8+ rows, so a token's logits depend
        # on how many other tokens share its batch: greedy output would differ alone vs batched,
        # and a prefix-cache hit would differ from a cold run. The row-by-row kernels are
        # batch-invariant and measured no slower here (bench: raw decode at 1 and 8 sequences).
        os.environ.setdefault("GGML_CPU_TILED_MM", "0")
        if not verbose:
            # llama.cpp logs every tensor at load; keep our logs readable.
            _silence = ll.llama_log_callback(lambda level, text, data: None)
            ll.llama_log_set(_silence, ctypes.c_void_p(0))
            globals()["_log_callback_ref"] = _silence  # ctypes callbacks must stay alive
        ll.llama_backend_init()
        _backend_ready = True


@functools.cache  # the build does not change while the process runs; asked at every load
def uses_amx() -> bool:
    """Whether this llama.cpp was built with its AMX matmul kernels (a -march=native build on
    a Xeon with AMX). Those kernels crash with SIGILL on such machines under Linux's per-thread
    XFD permission (llama.cpp PR #26954, open); `make install` builds without them, and a wheel
    that has them (an older build in pip's cache) gets its model loaded without the AMX buffer
    type, the only way in to those kernels."""
    return b"AMX_INT8 = 1" in ll.llama_print_system_info()


class ModelLoadError(ValueError):  # a bad or unsupported file: a 4xx, not a 500
    pass


@dataclass(frozen=True)
class ContextConfig:
    n_ctx: int  # KV cells shared by all sequences (unified cache)
    n_seq_max: int
    n_batch: int = 512
    n_threads: int | None = None
    flash_attn: int = -1  # llama.cpp's flash_attn_type: -1 auto, 0 off, 1 on
    # Keys in q8_0, values in f16: see KV_TYPES. "f16" keys bring back llama.cpp's fastest
    # attention kernels, and with them batch-dependent output.
    cache_type_k: str = "q8_0"


# With equal K and V types in f16, llama.cpp's CPU flash attention picks a kernel per batch:
# a tiled one when a batch holds 64+ tokens and one that splits the cells across threads when
# it holds a single token; each rounds differently, and this model turns a last-bit change in
# attention into logits up to 1.3 apart. So a prompt's output would depend on what else shared
# its steps and on the thread count. Keys in q8_0 (values in f16) leave only the one kernel
# that walks a sequence's cells in order, whatever the batch: measured bit-identical logits
# alone, batched, chunked, on 1 or 2 threads, and 25% less KV memory; prompts prefill 5-7%
# slower at 150 tokens and ~25% at 1,500 (docs/determinism.md).
KV_TYPES = {"f16": ll.GGML_TYPE_F16, "q8_0": ll.GGML_TYPE_Q8_0}


def check_loadable(path: str | os.PathLike[str]) -> None:
    """ModelLoadError unless llama.cpp knows this GGUF's architecture and vocabulary.

    A vocab-only load (no weights read, ~10-100 ms): the header check alone accepts any
    architecture the `gguf` package names, which can be more than this llama.cpp can run, and
    an upload or pull must not register a file that only fails when someone chats with it.
    """
    _init_backend(False)
    params = ll.llama_model_default_params()
    params.vocab_only = True
    ptr = ll.llama_model_load_from_file(str(path).encode(), params)
    if not ptr:
        raise ModelLoadError(
            f"{Path(path).name}: llama.cpp cannot load this model (unsupported architecture or"
            " vocabulary, or a damaged file)"
        )
    ll.llama_model_free(ptr)


class LlamaModel:
    """A loaded GGUF (weights mmapped) plus its vocabulary and metadata."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        overrides: Mapping[str, bool] | None = None,
        verbose: bool = False,
    ) -> None:
        """`overrides` are llama.cpp `kv_overrides` of boolean metadata (the embedder uses them to
        do BERT accent stripping in Python); `metadata` still shows the file's own values."""
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path}")
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelLoadError(f"{path.name} is not a GGUF file")
        _init_backend(verbose)
        params = ll.llama_model_default_params()  # mmap is the default: pages load on use
        if uses_amx():
            params.use_extra_bufts = False
        overrides = dict(overrides or {})
        kvo = (ll.llama_model_kv_override * (len(overrides) + 1))()  # zeroed sentinel at the end
        for i, (key, value) in enumerate(overrides.items()):
            kvo[i].key = key.encode()
            kvo[i].tag = ll.LLAMA_KV_OVERRIDE_TYPE_BOOL
            kvo[i].value.val_bool = bool(value)
        if overrides:
            params.kv_overrides = kvo
        self.path = path
        self.ptr = ll.llama_model_load_from_file(str(path).encode(), params)
        if not self.ptr:
            raise ModelLoadError(f"llama.cpp could not load {path.name} (corrupt or unsupported)")
        self.vocab = ll.llama_model_get_vocab(self.ptr)
        self.n_vocab = ll.llama_vocab_n_tokens(self.vocab)
        self.train_ctx = int(ll.llama_model_n_ctx_train(self.ptr))
        self.metadata = self._read_metadata()
        self._piece_buf = ctypes.create_string_buffer(256)
        self._piece_cache: dict[int, bytes] = {}

    def close(self) -> None:
        if self.ptr:
            ll.llama_model_free(self.ptr)
            self.ptr = None

    def _read_metadata(self) -> dict[str, str]:
        out: dict[str, str] = {}
        buf = ctypes.create_string_buffer(1 << 16)
        for i in range(ll.llama_model_meta_count(self.ptr)):
            n = ll.llama_model_meta_key_by_index(self.ptr, i, buf, len(buf))
            if n < 0:
                continue
            key = buf.value.decode("utf-8", "replace")
            n = ll.llama_model_meta_val_str_by_index(self.ptr, i, buf, len(buf))
            if n < 0:
                continue
            if n >= len(buf):  # chat templates can be long
                big = ctypes.create_string_buffer(n + 1)
                ll.llama_model_meta_val_str_by_index(self.ptr, i, big, len(big))
                out[key] = big.value.decode("utf-8", "replace")
            else:
                out[key] = buf.value.decode("utf-8", "replace")
        return out

    def info(self, name: str, context_limit: int | None) -> ModelInfo:
        meta = self.metadata
        train_ctx = self.train_ctx
        ctx = min(train_ctx, context_limit) if context_limit else train_ctx
        eog = tuple(t for t in range(self.n_vocab) if ll.llama_vocab_is_eog(self.vocab, t))
        bos_id = ll.llama_vocab_bos(self.vocab)
        eos_id = ll.llama_vocab_eos(self.vocab)
        return ModelInfo(
            name=name,
            path=str(self.path),
            architecture=meta.get("general.architecture", "unknown"),
            context_length=ctx,
            train_context_length=train_ctx,
            vocab_size=self.n_vocab,
            eos_token_ids=eog,
            bos_token=self.token_text(bos_id) if bos_id >= 0 else "",
            eos_token=self.token_text(eos_id) if eos_id >= 0 else "",
            add_bos=bool(ll.llama_vocab_get_add_bos(self.vocab)),
            chat_template=meta.get("tokenizer.chat_template"),
            size_bytes=self.path.stat().st_size,
            metadata={k: v for k, v in meta.items() if not k.startswith("tokenizer.ggml.")},
        )

    def token_text(self, token: int) -> str:
        text = ll.llama_vocab_get_text(self.vocab, token)
        return text.decode("utf-8", "replace") if text else ""

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        arr = (ll.llama_token * cap)()
        n = ll.llama_tokenize(self.vocab, data, len(data), arr, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            arr = (ll.llama_token * cap)()
            n = ll.llama_tokenize(self.vocab, data, len(data), arr, cap, add_special, parse_special)
        return list(arr[:n])

    def piece(self, token: int) -> bytes:
        """The bytes of one token (control tokens render as nothing). Cached: the vocab is fixed."""
        cached = self._piece_cache.get(token)
        if cached is not None:
            return cached
        n = ll.llama_token_to_piece(
            self.vocab, token, self._piece_buf, len(self._piece_buf), 0, False
        )
        if n < 0:
            big = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self.vocab, token, big, len(big), 0, False)
            out = big.raw[:n]
        else:
            out = self._piece_buf.raw[:n]
        self._piece_cache[token] = out
        return out

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", "replace")

    def is_eog(self, token: int) -> bool:
        return bool(ll.llama_vocab_is_eog(self.vocab, token))


class LlamaContext:
    """One llama.cpp context: a unified KV cache shared by `n_seq_max` sequences."""

    def __init__(self, model: LlamaModel, config: ContextConfig) -> None:
        self.model = model
        self.config = config
        params = ll.llama_context_default_params()
        params.n_ctx = config.n_ctx
        params.n_batch = config.n_batch
        params.n_ubatch = config.n_batch
        params.n_seq_max = config.n_seq_max
        threads = config.n_threads or default_threads()
        params.n_threads = threads
        params.n_threads_batch = threads
        self.threads = threads
        params.no_perf = True
        params.flash_attn_type = config.flash_attn
        params.type_k = KV_TYPES[config.cache_type_k]
        params.type_v = ll.GGML_TYPE_F16
        # One cache for all slots: a slot may use the whole context, and sequences can share a
        # cached prefix by copying cell tags (llama_memory_seq_cp) instead of recomputing it.
        params.kv_unified = True
        self.ptr = ll.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            raise ModelLoadError("llama.cpp could not create a context (out of memory?)")
        self.memory = ll.llama_get_memory(self.ptr)
        self.n_ctx = int(ll.llama_n_ctx(self.ptr))
        self.batch = ll.llama_batch_init(config.n_batch, 0, 1)
        self.batch_capacity = config.n_batch

    def close(self) -> None:
        if self.ptr:
            ll.llama_batch_free(self.batch)
            ll.llama_free(self.ptr)
            self.ptr = None

    def set_threads(self, n: int) -> None:
        ll.llama_set_n_threads(self.ptr, n, n)

    # -- KV cache per sequence -------------------------------------------------------------
    def seq_rm(self, seq: int, start: int, end: int = -1) -> bool:
        return bool(ll.llama_memory_seq_rm(self.memory, seq, start, end))

    def seq_cp(self, src: int, dst: int, start: int, end: int) -> None:
        ll.llama_memory_seq_cp(self.memory, src, dst, start, end)

    def clear(self) -> None:
        ll.llama_memory_clear(self.memory, True)

    # -- batches ----------------------------------------------------------------------------
    def decode(self, entries: list[tuple[int, int, int, bool]]) -> int:
        """Decode (token, pos, seq, want_logits) entries in one llama_decode call."""
        b = self.batch
        for i, (tok, pos, seq, logits) in enumerate(entries):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = logits
        b.n_tokens = len(entries)
        return int(ll.llama_decode(self.ptr, b))

    def logits(self, index: int) -> ctypes.Array[ctypes.c_float]:
        ptr = ll.llama_get_logits_ith(self.ptr, index)
        return (ctypes.c_float * self.model.n_vocab).from_address(ctypes.addressof(ptr.contents))


def default_threads() -> int:
    """Physical cores, at most 8: llama.cpp decode is bandwidth-bound and SMT does not help."""
    try:
        import psutil

        cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except Exception:
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))
