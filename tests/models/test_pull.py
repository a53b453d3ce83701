"""Pulling from a local fake Hub: choose, download, resume, verify, rename, register."""

from __future__ import annotations

import threading
import time

import pytest

from impetus.models.pull import CancelToken, PullCancelled, Puller, PullError, PullSpec
from impetus.models.registry import Registry
from tests.conftest import MODEL_PATH
from tests.models.fake_hub import FakeHub
from tests.models.files import tiny_mlx_folder, truncated_model

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


# --- MLX / safetensors folders ------------------------------------------------------------

MLX_REPO = "mlx-community/Tiny-Llama-4bit"
FOLDER = {
    "config.json",
    "generation_config.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "model.safetensors.index.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
}


@pytest.fixture
def mlx_hub(hub, tmp_path):
    """A repo laid out as on mlx-community, with files a pull must leave behind."""
    src = tiny_mlx_folder(tmp_path / "src" / "tiny", hidden=128)
    (src / "README.md").write_text("# Tiny\n")
    (src / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (src / "consolidated.safetensors").write_bytes((src / FOLDER_SHARD).read_bytes())
    (src / "original").mkdir()
    (src / "original" / "params.json").write_text("{}")
    hub.add_folder(MLX_REPO, src)
    # A repo with both: a bare name means the GGUF, :mlx the folder.
    hub.add_folder("acme/both", src)
    hub.add("acme/both", "both-Q4_K_M.gguf", MODEL_PATH)
    return hub


FOLDER_SHARD = "model-00001-of-00002.safetensors"


def _sizes(hub: FakeHub, repo: str) -> int:
    return sum(f.size for name, f in hub.repos[repo].items() if name in FOLDER)


def test_pull_mlx_folder(mlx_hub, puller):
    events = []
    rec = puller.pull(MLX_REPO, events.append)
    target = puller.models_dir / "Tiny-Llama-4bit"
    assert rec.format == "mlx" and rec.architecture == "llama" and rec.kind == "chat"
    assert rec.path == str(target.resolve()) and rec.has_chat_template
    assert {p.name for p in target.iterdir()} == FOLDER  # no README, image, other layouts
    for name in FOLDER:  # byte for byte what the Hub holds
        assert (target / name).read_bytes() == mlx_hub.repos[MLX_REPO][name].path.read_bytes()
    assert _no_partials(puller)
    # One progress for the whole folder, growing to its size.
    progress = [e for e in events if e["status"] == "downloading" and e["total"]]
    total = _sizes(mlx_hub, MLX_REPO)
    assert {e["total"] for e in progress} == {total}
    done = [e["completed"] for e in progress]
    assert done == sorted(done) and done[-1] == total and progress[-1]["files_total"] == 8
    assert events[-1] == {"status": "success", "model": "Tiny-Llama-4bit"}
    fetched = {r.split("/resolve/main/")[1] for r in mlx_hub.requests if "/resolve/" in r}
    assert fetched == FOLDER
    # Names it answers to; a second pull is a no-op.
    assert puller.registry.resolve(MLX_REPO).name == rec.name
    assert puller.registry.resolve(f"{MLX_REPO}:mlx").name == rec.name
    again = []
    assert puller.pull(MLX_REPO, again.append).name == rec.name
    assert again[-1]["cached"] is True


def test_repo_with_gguf_and_folder(mlx_hub, puller):
    assert puller.pull("acme/both").format == "gguf"
    folder = puller.pull("acme/both:mlx")
    assert folder.format == "mlx" and folder.name == "both"
    with pytest.raises(PullError, match="no safetensors model folder"):
        puller.pull(f"{REPO}:mlx")


def test_folder_checksum_mismatch_is_refused(mlx_hub, puller):
    mlx_hub.corrupt = {"tokenizer_config.json"}  # kept in git: checked by its blob id
    with pytest.raises(PullError, match=r"tokenizer_config\.json: checksum mismatch"):
        puller.pull(MLX_REPO)
    mlx_hub.corrupt = set()
    mlx_hub.wrong_sha = True  # LFS files: checked by sha256
    with pytest.raises(PullError, match="sha256 mismatch"):
        puller.pull(MLX_REPO)
    assert puller.registry.list() == []
    assert not (puller.models_dir / "Tiny-Llama-4bit").exists()


def test_folder_index_naming_a_missing_shard(hub, puller, tmp_path):
    src = tiny_mlx_folder(tmp_path / "gap")
    (src / FOLDER_SHARD).unlink()
    hub.add_folder("acme/gap", src)
    with pytest.raises(PullError, match="names missing files"):
        puller.pull("acme/gap")
    assert puller.registry.list() == []


def test_cancelled_folder_pull_keeps_its_partial_and_resumes(mlx_hub, puller):
    mlx_hub.throttle = 100_000  # bytes/s: the folder takes seconds
    cancel = CancelToken()
    started = threading.Event()
    result: list = []

    def progress(e: dict) -> None:
        if e.get("completed", 0) > 20_000 and e.get("total"):
            started.set()

    def run() -> None:
        try:
            result.append(puller.pull(MLX_REPO, progress, cancel))
        except PullError as exc:
            result.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(30)
    t0 = time.monotonic()
    cancel.cancel()
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - t0 < 1.0
    assert isinstance(result[0], PullCancelled)
    sent = mlx_hub.bytes_sent
    time.sleep(0.5)
    assert mlx_hub.bytes_sent - sent < 20_000 and mlx_hub.active == 0
    assert puller.registry.list() == []
    assert not (puller.models_dir / "Tiny-Llama-4bit").exists()
    (kept,) = (puller.models_dir / ".partial").glob("*/*.partial")
    assert kept.stat().st_size > 0
    mlx_hub.throttle = None
    rec = puller.pull(MLX_REPO)
    assert any(r.startswith("bytes=") for r in mlx_hub.ranges)  # resumed, not restarted
    assert rec.format == "mlx" and _no_partials(puller)
    shard = puller.models_dir / "Tiny-Llama-4bit" / kept.name.removesuffix(".partial")
    assert shard.read_bytes() == mlx_hub.repos[MLX_REPO][shard.name].path.read_bytes()


def test_a_second_pull_of_the_same_files_is_refused_while_one_runs(hub, puller, monkeypatch):
    monkeypatch.setattr("impetus.models.pull.LOCK_WAIT", 0.2)
    hub.throttle = 20_000_000
    cancel = CancelToken()
    started = threading.Event()
    outcome: list = []

    def run() -> None:
        try:
            puller.pull(REPO, lambda e: started.set() if e.get("completed") else None, cancel)
        except PullError as exc:
            outcome.append(exc)

    first = threading.Thread(target=run)
    first.start()
    assert started.wait(30)
    try:
        with pytest.raises(PullError, match="already being pulled") as info:
            puller.pull(REPO)
        assert info.value.status == 409
    finally:
        cancel.cancel()
        first.join(5)
    assert isinstance(outcome[0], PullCancelled)
    hub.throttle = None
    assert puller.pull(REPO).sha256 == hub.repos[REPO][FILE].sha256
