"""The SQLite registry: scanning, metadata, aliases, bad files, persistence."""

from __future__ import annotations

import pytest

from impetus.models.gguf_info import InvalidModel, read_gguf
from impetus.models.registry import ModelNotFound, Registry
from tests.conftest import MODEL_ID
from tests.models.files import copy_model, corrupt_header, tiny_gguf, truncated_model


@pytest.fixture
def models(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    copy_model(d / f"{MODEL_ID}.gguf")
    return d


def test_reads_gguf_metadata(models):
    info = read_gguf(models / f"{MODEL_ID}.gguf")
    assert info.architecture == "llama"
    assert info.kind == "chat"
    assert info.quantization == "Q4_1"
    assert info.context_length == 8192
    assert 130e6 < info.parameters < 140e6
    assert info.chat_template and "im_start" in info.chat_template


def test_scan_registers_and_resolves_aliases(models, tmp_path):
    reg = Registry(tmp_path / "r.sqlite3", [models])
    records, bad = reg.scan()
    assert bad == {}
    assert [r.name for r in records] == [MODEL_ID]
    rec = records[0]
    assert rec.aliases == ["smollm2:135m"]
    assert rec.size_bytes == (models / f"{MODEL_ID}.gguf").stat().st_size
    assert reg.resolve("smollm2:135m").name == MODEL_ID
    assert reg.resolve(f"{MODEL_ID}.gguf").name == MODEL_ID
    assert reg.resolve(MODEL_ID.lower()).name == MODEL_ID
    with pytest.raises(ModelNotFound):
        reg.resolve("nope:1b")


def test_bad_files_are_never_registered(models, tmp_path):
    truncated_model(models / "half.gguf")
    corrupt_header(models / "garbage.gguf")
    (models / "notes.gguf").write_text("hello, this is not a model at all, just some text")
    tiny_gguf(models / "vision.gguf", arch="clip")
    reg = Registry(tmp_path / "r.sqlite3", [models])
    records, bad = reg.scan()
    assert [r.name for r in records] == [MODEL_ID]
    reasons = {k.rsplit("/", 1)[1]: v for k, v in bad.items()}
    assert "truncated" in reasons["half.gguf"]
    assert "corrupt" in reasons["garbage.gguf"] or "truncated" in reasons["garbage.gguf"]
    assert "magic" in reasons["notes.gguf"]
    assert "architecture 'clip'" in reasons["vision.gguf"]
    with pytest.raises(InvalidModel):
        reg.add(models / "half.gguf", source="test")
    assert len(reg.list()) == 1


def test_registry_survives_reopen_and_tracks_removal(models, tmp_path):
    db = tmp_path / "r.sqlite3"
    reg = Registry(db, [models])
    reg.scan()
    reg.ensure_sha256(reg.resolve(MODEL_ID))
    reg.touch(MODEL_ID)
    reg.close()
    again = Registry(db, [models])
    rec = again.get("smollm2:135m")
    assert rec is not None and rec.sha256 and len(rec.sha256) == 64 and rec.last_used_at
    (models / f"{MODEL_ID}.gguf").unlink()
    records, _ = again.scan()
    assert records == []


def test_path_outside_the_folders_registers_on_resolve(tmp_path):
    path = copy_model(tmp_path / "elsewhere" / "mine.gguf")
    reg = Registry(tmp_path / "r.sqlite3", [tmp_path / "models"])
    rec = reg.resolve(str(path))
    assert rec.name == "mine" and rec.source == "path"
    assert reg.resolve("mine").path == str(path.resolve())


def test_derived_models_share_the_file_and_survive_reopen(models, tmp_path):
    db = tmp_path / "r.sqlite3"
    reg = Registry(db, [models])
    reg.scan()
    base = reg.resolve(MODEL_ID)
    profile = {"system": "Be brief.", "parameters": {"temperature": 0.1}}
    rec = reg.add_derived("brief", base.path, base.name, profile)
    assert rec.derived and rec.path == base.path and rec.profile == profile
    reg.close()
    reg = Registry(db, [models])
    records, _ = reg.scan()  # a scan neither drops nor re-adds the derived model
    assert [r.name for r in records] == [MODEL_ID, "brief"]
    for spec in ("brief", "brief:latest", "BRIEF"):
        assert reg.resolve(spec).profile == profile
    assert reg.derived_using(base.path) == ["brief"]
    reg.remove("brief")
    assert reg.get("brief") is None and reg.resolve(MODEL_ID).path == base.path
    reg.add_derived("gone", base.path, base.name, {})
    (models / f"{MODEL_ID}.gguf").unlink()
    records, _ = reg.scan()
    assert records == []  # its file's model is gone: not listed, not usable...
    with pytest.raises(ModelNotFound):
        reg.resolve("gone")
    copy_model(models / f"{MODEL_ID}.gguf")
    reg.scan()
    assert reg.resolve("gone").derived  # ...and back with the file
