"""The run-time key store: only digests on disk, revocation at once, survives a reopen."""

from __future__ import annotations

import hashlib

from impetus.server import keys as keys_mod
from impetus.server.keys import KeyStore


def test_create_verify_revoke_and_reopen(tmp_path):
    db = tmp_path / "keys.sqlite3"
    store = KeyStore(db)
    assert not store
    info, secret = store.create("laptop")
    assert store and secret.startswith("imp_") and len(secret) > 40
    assert info.prefix == secret[:12] and info.last_used_at is None
    assert store.verify(secret).id == info.id
    assert store.verify(secret + "x") is None and store.verify("") is None
    _, other_secret = store.create("ci")
    assert other_secret != secret
    store.close()

    store = KeyStore(db)  # a restart keeps the keys, and the last-used time
    assert [k.name for k in store.list()] == ["laptop", "ci"]
    assert store.list()[0].last_used_at is not None
    assert store.revoke(info.id).name == "laptop"
    assert store.verify(secret) is None
    assert store.revoke(info.id) is None  # already revoked
    assert store.verify(other_secret).name == "ci"
    store.close()
    store = KeyStore(db)
    assert [k.name for k in store.list()] == ["ci"]
    store.close()


def test_only_a_digest_reaches_the_disk(tmp_path):
    db = tmp_path / "keys.sqlite3"
    store = KeyStore(db)
    _, secret = store.create("x")
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in raw
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in raw


def test_last_used_is_written_at_most_once_a_minute(tmp_path, monkeypatch):
    store = KeyStore(tmp_path / "keys.sqlite3")
    _, secret = store.create("x")
    clock = [1000.0]
    monkeypatch.setattr(keys_mod.time, "time", lambda: clock[0])
    store.verify(secret)
    on_disk = lambda: store._db.execute("SELECT last_used_at FROM api_keys").fetchone()[0]  # noqa: E731
    assert on_disk() == 1000.0
    clock[0] = 1030.0
    store.verify(secret)
    assert on_disk() == 1000.0 and store.list()[0].last_used_at == 1030.0
    clock[0] = 1061.0
    store.verify(secret)
    assert on_disk() == 1061.0
    store.close()
