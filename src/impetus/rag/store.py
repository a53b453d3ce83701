"""The vector-store interface the RAG pipeline is written against, and its filter language.

A store holds collections; a collection holds documents, each stored as chunks with a vector,
text and metadata. Replacing or deleting a document's chunks is atomic: a search sees all of a
document's old chunks or all of its new ones, never a mix. `LanceStore` is the in-process store;
another engine plugs in by implementing `Store` and `Collection`.

Filters are a JSON object, every key must match:

    {"source": "a.pdf", "type": {"in": ["pdf", "docx"]}, "date": {"gte": "2024-01-01"},
     "page": {"lt": 10}, "tags": {"any": ["x", "y"]}, "meta.author": "ann"}

A bare value means equality; operators are eq, ne, in, gt, gte, lt, lte (ranges on date, page,
and ingested_at) and, for tags, any/all. `meta.KEY` matches user metadata by equality or `in`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Mode = Literal["vector", "keyword", "hybrid"]

FIELDS = {
    "source": str,
    "type": str,
    "doc_id": str,
    "section": str,
    "page": int,
    "date": dt.datetime,
    "ingested_at": dt.datetime,
}
RANGE_OPS = {"gt", "gte", "lt", "lte"}


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class Condition:
    field: str  # a FIELDS key, "tags", or "meta.KEY"
    op: str  # eq ne in gt gte lt lte any all
    value: Any


def parse_filters(filters: dict | None) -> list[Condition]:
    out: list[Condition] = []
    for key, spec in (filters or {}).items():
        ops = spec if isinstance(spec, dict) else {"eq": spec}
        if not ops:
            raise FilterError(f"filter on '{key}' is empty")
        for op, value in ops.items():
            out.append(_condition(key, op, value))
    return out


def _condition(key: str, op: str, value: Any) -> Condition:
    if key == "tags":
        if op == "eq":
            op, value = "any", [value]
        if op not in ("any", "all", "in"):
            raise FilterError("tags take eq, any, all or in")
        return Condition("tags", "all" if op == "all" else "any", [str(v) for v in _list(value)])
    if key.startswith("meta."):
        if op not in ("eq", "in") or not key[5:]:
            raise FilterError(f"user metadata '{key}' takes eq or in")
        return Condition(key, op, [str(v) for v in _list(value)] if op == "in" else str(value))
    kind = FIELDS.get(key)
    if kind is None:
        known = ", ".join([*FIELDS, "tags", "meta.KEY"])
        raise FilterError(f"unknown filter field '{key}'; known: {known}")
    if op not in {"eq", "ne", "in", *RANGE_OPS}:
        raise FilterError(f"unknown operator '{op}' on '{key}'")
    if op in RANGE_OPS and kind is str:
        raise FilterError(f"'{key}' is text; ranges work on date, ingested_at and page")
    if op == "in":
        return Condition(key, op, [_coerce(key, kind, v) for v in _list(value)])
    return Condition(key, op, _coerce(key, kind, value))


def _list(value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise FilterError("'in', 'any' and 'all' take a non-empty list")
    return value


def _coerce(key: str, kind: type, value: Any) -> Any:
    try:
        if kind is dt.datetime:
            return parse_date(value)
        if kind is int:
            if isinstance(value, bool):
                raise TypeError
            return int(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise FilterError(f"bad value {value!r} for '{key}'") from exc


def parse_date(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None)


@dataclass
class ChunkRow:
    id: str  # "<doc_id>:<n>"
    doc_id: str
    text: str
    vector: Any  # float32 [dim]
    source: str
    type: str
    page: int | None
    section: str | None
    start: int
    end: int
    date: dt.datetime
    ingested_at: dt.datetime
    tags: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class DocumentRow:
    doc_id: str
    source: str
    type: str
    content_hash: str
    chunks: int
    bytes: int
    date: dt.datetime
    ingested_at: dt.datetime
    tags: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class Hit:
    chunk_id: str
    doc_id: str
    text: str
    score: float
    source: str
    type: str
    page: int | None
    section: str | None
    start: int
    end: int
    date: dt.datetime
    tags: list[str]
    meta: dict[str, str]

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items()}
        out["date"] = self.date.isoformat()
        return out


class Collection(Protocol):
    name: str

    def put_document(self, doc: DocumentRow, chunks: list[ChunkRow]) -> None:
        """Insert, or atomically replace, all chunks of one document."""

    def delete_document(self, doc_id: str) -> bool: ...

    def document(self, doc_id: str) -> DocumentRow | None: ...

    def documents(self) -> list[DocumentRow]: ...

    def search(
        self,
        *,
        vector: Any = None,
        text: str | None = None,
        k: int = 10,
        mode: Mode = "vector",
        filters: list[Condition] | None = None,
        weight: float = 0.5,
    ) -> list[Hit]: ...

    def stats(self) -> dict: ...

    def optimize(self) -> None:
        """Bring indexes up to date after writes."""

    def repair(self) -> int:
        """Remove chunks of documents whose write or delete was cut short; how many."""


class Store(Protocol):
    def create(self, name: str, dim: int) -> Collection: ...

    def open(self, name: str) -> Collection: ...

    def names(self) -> list[str]: ...

    def drop(self, name: str) -> bool: ...


def rrf(lists: list[list[Hit]], weights: list[float], k: int, c: int = 60) -> list[Hit]:
    """Reciprocal-rank fusion: score = sum of weight / (c + rank) over the lists."""
    scores: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    for hits_list, w in zip(lists, weights, strict=True):
        for rank, hit in enumerate(hits_list):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + w / (c + rank + 1)
            hits.setdefault(hit.chunk_id, hit)
    best = sorted(scores, key=lambda cid: -scores[cid])[:k]
    out = []
    for cid in best:
        h = hits[cid]
        out.append(Hit(**{**h.__dict__, "score": scores[cid]}))
    return out
