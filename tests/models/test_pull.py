"""Pulling from a local fake Hub: choose, download, resume, verify, rename, register."""

from __future__ import annotations

import pytest

from impetus.models.pull import Puller, PullError, PullSpec
from impetus.models.registry import Registry
from tests.conftest import MODEL_PATH
from tests.models.fake_hub import FakeHub
from tests.models.files import truncated_model

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
FILE = "smollm2-135m-instruct-q4_1.gguf"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    h = FakeHub()
    h.add(REPO, FILE, MODEL_PATH)
    h.add("acme/broken", "broken-Q4_K_M.gguf", truncated_model(tmp_path / "broken.gguf"))
    h.start()
    monkeypatch.setenv("HF_ENDPOINT", h.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    yield h
    h.stop()


@pytest.fixture
def puller(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    reg = Registry(tmp_path / "r.sqlite3", [models])
    return Puller(models, reg)


def _no_partials(puller: Puller) -> bool:
    """Nothing half-downloaded left behind (empty lock files may stay)."""
    return not [p for p in (puller.models_dir / ".partial").glob("*") if p.suffix != ".lock"]


def test_parse_spec():
    assert PullSpec.parse("org/repo") == PullSpec("org/repo")
    assert PullSpec.parse("hf.co/org/repo:Q4_K_M").tag == "Q4_K_M"
    assert PullSpec.parse("org/repo:dir/x.gguf").filename == "dir/x.gguf"
    with pytest.raises(PullError):
        PullSpec.parse("justaname")


def test_pull_downloads_verifies_and_registers(hub, puller):
    events = []
    rec = puller.pull(REPO, events.append)
    assert rec.name == FILE.removesuffix(".gguf")
    assert rec.size_bytes == MODEL_PATH.stat().st_size
    assert rec.sha256 == hub.repos[REPO][FILE].sha256
    assert rec.source.startswith(f"hf:{REPO}/{FILE}")
    assert (puller.models_dir / FILE).is_file() and _no_partials(puller)
    statuses = [e["status"] for e in events]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert any(e.get("completed") == rec.size_bytes for e in events)
    assert puller.registry.resolve(f"{REPO}:{FILE}").name == rec.name
    assert puller.registry.resolve("smollm2:135m").name == rec.name
    # Pulling again is a no-op.
    again = []
    puller.pull(f"{REPO}:{FILE}", again.append)
    assert again[-1].get("cached") is True


def test_interrupted_transfer_resumes_in_the_same_pull(hub, puller):
    hub.cut_after, hub.cuts = 10_000_000, 2
    rec = puller.pull(REPO)
    assert rec.sha256 == hub.repos[REPO][FILE].sha256
    assert hub.ranges == ["", "bytes=10000000-", "bytes=20000000-"]


def test_interrupted_pull_resumes_on_the_next_pull(hub, puller, monkeypatch):
    monkeypatch.setattr("impetus.models.transfer._RETRIES", 0)
    hub.cut_after, hub.cuts = 30_000_000, 1
    with pytest.raises(PullError, match="pull again to resume"):
        puller.pull(REPO)
    assert not (puller.models_dir / FILE).exists()
    assert puller.registry.list() == []
    (partial,) = (puller.models_dir / ".partial").glob("*.partial")
    assert partial.stat().st_size == 30_000_000
    rec = puller.pull(REPO)
    assert hub.ranges[-1] == "bytes=30000000-"
    assert rec.sha256 == hub.repos[REPO][FILE].sha256 and _no_partials(puller)


def test_checksum_mismatch_is_refused(hub, puller):
    hub.wrong_sha = True
    with pytest.raises(PullError, match="sha256 mismatch"):
        puller.pull(REPO)
    assert puller.registry.list() == [] and _no_partials(puller)
    assert not (puller.models_dir / FILE).exists()


def test_bad_gguf_and_missing_repo(hub, puller):
    with pytest.raises(PullError, match="truncated"):
        puller.pull("acme/broken:Q4_K_M")
    with pytest.raises(PullError) as info:
        puller.pull("acme/nothing")
    assert info.value.status == 404
    with pytest.raises(PullError, match="no file"):
        puller.pull(f"{REPO}:other.gguf")
    assert puller.registry.list() == [] and _no_partials(puller)
