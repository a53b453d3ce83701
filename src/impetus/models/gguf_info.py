"""Read what a GGUF says about itself, without loading it, and reject broken files.

A small reader of our own: `gguf.GGUFReader` parses every vocabulary array into numpy fields
(seconds for a 49k vocab); this walks the header through an mmap, skips arrays it does not need,
and checks every tensor's extent against the file size, so a truncated or corrupt file is refused
before llama.cpp ever sees it.
"""

from __future__ import annotations

import mmap
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"GGUF"
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9
# Sanity bounds: a header that claims more than this is corrupt, not big.
_MAX_COUNT = 1 << 24
_MAX_STRING = 1 << 26
EMBEDDING_ARCHS = {
    "bert",
    "modern-bert",
    "nomic-bert",
    "nomic-bert-moe",
    "neo-bert",
    "jina-bert-v2",
    "jina-bert-v3",
    "eurobert",
    "t5encoder",
    "gemma-embedding",
    "llama-embed",
}
# Not language models at all (vision projectors, audio decoders).
NOT_LLM_ARCHS = {"clip", "wavtokenizer-dec"}


class InvalidModel(ValueError):
    """The file is not a usable model; the message says why and is safe to show."""


@dataclass
class GgufInfo:
    architecture: str
    kind: str  # "chat" or "embedding"
    parameters: int
    quantization: str
    context_length: int | None
    chat_template: str | None
    tensor_count: int
    metadata: dict[str, object] = field(default_factory=dict)  # scalars and short strings only

    @property
    def basename(self) -> str | None:
        return _str(self.metadata.get("general.basename"))

    @property
    def size_label(self) -> str | None:
        return _str(self.metadata.get("general.size_label"))


def _str(v: object) -> str | None:
    return v if isinstance(v, str) and v else None


class _Cursor:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.pos = 0

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise InvalidModel("the GGUF header is truncated or corrupt")

    def scalar(self, code: str):
        size = struct.calcsize("<" + code)
        self.need(size)
        (v,) = struct.unpack_from("<" + code, self.buf, self.pos)
        self.pos += size
        return v

    def string(self) -> str:
        n = self.scalar("Q")
        if n > _MAX_STRING:
            raise InvalidModel("the GGUF header is corrupt (string length out of range)")
        self.need(n)
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", "replace")

    def value(self, vtype: int, *, keep: bool):
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype, count = self.scalar("I"), self.scalar("Q")
            if count > _MAX_COUNT:
                raise InvalidModel("the GGUF header is corrupt (array length out of range)")
            if itype in _SCALARS:  # fixed-size items: skip in one step
                size = struct.calcsize("<" + _SCALARS[itype]) * count
                self.need(size)
                self.pos += size
                return None
            items = [self.value(itype, keep=keep) for _ in range(count)]
            return items if keep and count <= 64 else None
        raise InvalidModel(f"the GGUF header is corrupt (unknown value type {vtype})")


def _gguf_constants():
    """`gguf.constants` alone: plain enums and tables. Importing the `gguf` package would also
    load numpy and yaml (~20 MiB, ~0.3 s) into the server just to read a header."""
    import importlib.util
    import sys

    name = "impetus._gguf_constants"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("gguf")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the gguf package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "constants.py"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


def _quantization(meta: dict, tensor_types: Counter) -> str:
    gguf = _gguf_constants()

    ftype = meta.get("general.file_type")
    if isinstance(ftype, int):
        try:
            return gguf.LlamaFileType(ftype).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    if tensor_types:
        t = tensor_types.most_common(1)[0][0]
        try:
            return gguf.GGMLQuantizationType(t).name
        except ValueError:
            return str(t)
    return "unknown"


def read_gguf(path: str | Path) -> GgufInfo:
    """Header, metadata and tensor table of a GGUF, validated against the file size."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size < 24:
            raise InvalidModel(f"{path.name} is not a GGUF model (too small)")
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(path, buf, size)
    except OSError as exc:
        raise InvalidModel(f"cannot read {path.name}: {exc.strerror or exc}") from exc


def _parse(path: Path, buf: mmap.mmap, size: int) -> GgufInfo:
    gguf = _gguf_constants()  # quant block sizes, architectures

    if buf[:4] != MAGIC:
        raise InvalidModel(f"{path.name} is not a GGUF model (bad magic bytes)")
    c = _Cursor(buf)
    c.pos = 4
    version = c.scalar("I")
    if version not in (2, 3):
        raise InvalidModel(f"{path.name}: unsupported GGUF version {version}")
    n_tensors, n_kv = c.scalar("Q"), c.scalar("Q")
    if n_tensors > _MAX_COUNT or n_kv > _MAX_COUNT:
        raise InvalidModel(f"{path.name}: the GGUF header is corrupt (counts out of range)")
    meta: dict[str, object] = {}
    template = None
    for _ in range(n_kv):
        key = c.string()
        vtype = c.scalar("I")
        value = c.value(vtype, keep=not key.startswith("tokenizer.ggml."))
        if key == "tokenizer.chat_template" and isinstance(value, str):
            template = value
        elif value is not None and not (isinstance(value, str) and len(value) > 4096):
            meta[key] = value
    params = 0
    types: Counter = Counter()
    extents: list[tuple[int, int]] = []
    for _ in range(n_tensors):
        name = c.string()
        n_dims = c.scalar("I")
        if n_dims > 8:
            raise InvalidModel(f"{path.name}: tensor {name!r} has {n_dims} dimensions (corrupt)")
        dims = [c.scalar("Q") for _ in range(n_dims)]
        ttype, offset = c.scalar("I"), c.scalar("Q")
        try:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ttype)]
        except (ValueError, KeyError):
            raise InvalidModel(f"{path.name}: tensor {name!r} has unknown type {ttype}") from None
        n = 1
        for d in dims:
            n *= d
        if dims and dims[0] % block:
            raise InvalidModel(f"{path.name}: tensor {name!r} has a bad shape (corrupt)")
        params += n
        types[ttype] += n
        extents.append((offset, n // block * type_size))
    align = meta.get("general.alignment", gguf.GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(align, int) or align <= 0 or align & (align - 1):
        raise InvalidModel(f"{path.name}: bad alignment in the GGUF header")
    data_start = -(-c.pos // align) * align
    end = max((data_start + off + nbytes for off, nbytes in extents), default=data_start)
    if end > size:
        raise InvalidModel(
            f"{path.name} is truncated: its tensors need {end} bytes, the file has {size}"
        )
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise InvalidModel(f"{path.name}: the GGUF has no general.architecture")
    if arch not in gguf.MODEL_ARCH_NAMES.values() or arch in NOT_LLM_ARCHS:
        raise InvalidModel(f"{path.name}: architecture '{arch}' is not a supported language model")
    if not extents:
        raise InvalidModel(f"{path.name}: the GGUF has no tensors")
    ctx = meta.get(f"{arch}.context_length")
    kind = "embedding" if arch in EMBEDDING_ARCHS or f"{arch}.pooling_type" in meta else "chat"
    return GgufInfo(
        architecture=arch,
        kind=kind,
        parameters=params,
        quantization=_quantization(meta, types),
        context_length=ctx if isinstance(ctx, int) else None,
        chat_template=template,
        tensor_count=n_tensors,
        metadata=meta,
    )


def check_header(head: bytes) -> None:
    """Cheap first check on the first bytes of an upload: magic and version."""
    if len(head) < 8 or head[:4] != MAGIC:
        raise InvalidModel("not a GGUF model (bad magic bytes)")
    (version,) = struct.unpack_from("<I", head, 4)
    if version not in (2, 3):
        raise InvalidModel(f"unsupported GGUF version {version}")
