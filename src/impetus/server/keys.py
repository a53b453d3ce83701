"""API keys created at run time (the dashboard's Settings page, `/admin/keys`).

Only a SHA-256 digest of each key is stored, in `data_dir/keys.sqlite3`; the secret is shown
once, when it is created. SHA-256 rather than scrypt/PBKDF2: our keys are 256 random bits made by
`secrets`, not passwords, so a slow hash adds nothing against guessing (2^256 candidates either
way) while costing milliseconds of CPU on every API request of a 2-core machine. A fast digest
also lets a presented key be looked up directly (a dict keyed by digest), so verification time
does not depend on how many keys exist or which one matched.

Keys from the config (`api_keys`) are separate and keep working; the middleware accepts either.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

PREFIX = "imp_"
SHOWN_CHARS = 12  # "imp_" + 8 characters: enough to tell keys apart, far too few to guess one
LAST_USED_WRITE_EVERY = 60.0  # seconds; "last used" is shown to the minute, not written per request

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    last_used_at REAL,
    revoked_at REAL
);
"""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class KeyInfo:
    id: str
    name: str
    prefix: str
    created_at: float
    last_used_at: float | None

    def to_dict(self) -> dict:
        return asdict(self)


class KeyStore:
    """Thread-safe: one connection, one lock. Active keys are cached in memory by digest, so
    checking a request never touches the disk."""

    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, check_same_thread=False, timeout=10)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
        self._active: dict[str, KeyInfo] = {}
        self._written: dict[str, float] = {}  # key id -> last_used_at as last written
        self._reload()

    def _reload(self) -> None:
        rows = self._db.execute(
            "SELECT id, name, prefix, sha256, created_at, last_used_at FROM api_keys"
            " WHERE revoked_at IS NULL ORDER BY created_at"
        ).fetchall()
        self._active = {r[3]: KeyInfo(r[0], r[1], r[2], r[4], r[5]) for r in rows}
        self._written = {info.id: info.last_used_at or 0.0 for info in self._active.values()}

    def __bool__(self) -> bool:
        return bool(self._active)

    def create(self, name: str) -> tuple[KeyInfo, str]:
        """A new key and its secret (the only time the secret exists outside the caller)."""
        secret = PREFIX + secrets.token_urlsafe(32)
        info = KeyInfo(uuid.uuid4().hex, name, secret[:SHOWN_CHARS], time.time(), None)
        h = digest(secret)
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO api_keys (id, name, prefix, sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                (info.id, info.name, info.prefix, h, info.created_at),
            )
            self._active[h] = info
            self._written[info.id] = 0.0
        return info, secret

    def list(self) -> list[KeyInfo]:
        with self._lock:
            return sorted(self._active.values(), key=lambda k: k.created_at)

    def revoke(self, key_id: str) -> KeyInfo | None:
        """Revoke at once (the row stays, marked, so an audit can tell what existed)."""
        with self._lock, self._db:
            cur = self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), key_id),
            )
            if cur.rowcount == 0:
                return None
            for h, info in list(self._active.items()):
                if info.id == key_id:
                    del self._active[h]
                    self._written.pop(key_id, None)
                    return info
        return None

    def verify(self, presented: str) -> KeyInfo | None:
        """The key's info if `presented` is an active key; records when it was last used."""
        info = self._active.get(digest(presented))
        if info is None:
            return None
        now = time.time()
        info.last_used_at = now
        if now - self._written.get(info.id, 0.0) >= LAST_USED_WRITE_EVERY:
            self._written[info.id] = now
            with self._lock, self._db:
                self._db.execute(
                    "UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, info.id)
                )
        return info

    def close(self) -> None:
        """Write the latest last-used times, then close."""
        with self._lock, self._db:
            for info in self._active.values():
                if info.last_used_at and info.last_used_at > self._written.get(info.id, 0.0):
                    self._db.execute(
                        "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
                        (info.last_used_at, info.id),
                    )
        self._db.close()
