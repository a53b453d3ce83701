"""What "Switch model" lists: the server's registry, else (no server) the model folders."""

from __future__ import annotations

from pathlib import Path

from impetus.tray.catalog import MAX_LABEL, Catalog, ModelChoice, folder_models, registry_models
from impetus.tray.menu_items import model_actions

# The shape of GET /admin/models (src/impetus/api/admin.py), trimmed to what matters here.
PAYLOAD = {
    "models": [
        {
            "name": "SmolLM2-135M-Instruct.Q4_1",
            "path": "/m/SmolLM2-135M-Instruct.Q4_1.gguf",
            "format": "gguf",
            "kind": "chat",
            "aliases": ["smollm2:135m"],
            "parent": None,
            "loaded": {"name": "SmolLM2-135M-Instruct.Q4_1", "pinned": True},
            "default": True,
        },
        {
            "name": "qwen2.5-0.5b-mlx",
            "path": "/m/qwen2.5-0.5b-mlx",
            "format": "mlx",
            "kind": "chat",
            "aliases": [],
            "parent": None,
            "loaded": None,
            "default": False,
        },
        {"name": "all-minilm-l6-v2", "path": "/m/embeddings/x.gguf", "kind": "embedding"},
        {"name": "mybot", "path": "/m/SmolLM2-135M-Instruct.Q4_1.gguf", "parent": "smollm2"},
        {"path": "/m/nameless.gguf"},
        "junk",
    ],
    "loaded": [],
}


def test_registry_models_are_the_chat_models_with_aliases_and_mlx():
    models = registry_models(PAYLOAD)
    assert [m.name for m in models] == [
        "SmolLM2-135M-Instruct.Q4_1",
        "qwen2.5-0.5b-mlx",
        "mybot",
    ]
    default, mlx, derived = models
    assert default.default and default.loaded and default.pinned
    assert default.label == "SmolLM2-135M-Instruct.Q4_1 (smollm2:135m)"
    assert mlx.format == "mlx" and mlx.label == "qwen2.5-0.5b-mlx · MLX" and not mlx.loaded
    assert derived.derived and derived.path == Path("/m/SmolLM2-135M-Instruct.Q4_1.gguf")
    catalog = Catalog("server", models)
    assert catalog.find("smollm2:135m") is default and catalog.default is default


def test_a_broken_answer_is_an_error_not_a_crash():
    for bad in (None, [], {"models": "x"}):
        try:
            registry_models(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")


def test_long_labels_are_cut():
    label = ModelChoice("x" * 200).label
    assert len(label) == MAX_LABEL and label.endswith("…")


def test_folder_scan_finds_gguf_files_and_mlx_folders(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    (first / "embeddings").mkdir(parents=True)
    (first / "embeddings" / "embedder.gguf").write_bytes(b"x")  # not a chat model
    (first / "chat.gguf").write_bytes(b"x")
    (first / ".partial.gguf").write_bytes(b"x")  # a download in progress
    (first / "notes.txt").write_text("x")
    (first / "mlx-model").mkdir()
    (first / "mlx-model" / "config.json").write_text("{}")
    second.mkdir()
    (second / "chat.gguf").write_bytes(b"x")  # the same name again: the first folder wins
    (second / "extra.gguf").write_bytes(b"x")
    found = folder_models([first, second, tmp_path / "missing"])
    assert [(m.name, m.format) for m in found] == [
        ("chat", "gguf"),
        ("mlx-model", "mlx"),
        ("extra", "gguf"),
    ]
    assert found[0].path == first / "chat.gguf"


def test_menu_entries_tick_the_current_model_by_name_or_alias():
    catalog = Catalog("server", registry_models(PAYLOAD))
    entries = model_actions(catalog, "smollm2:135m", enabled=True)
    assert [e.checked for e in entries] == [True, False, False]
    assert all(e.group == "models" and e.id == "switch" and e.enabled for e in entries)
    assert entries[1].arg == "qwen2.5-0.5b-mlx"  # what POST /admin/models/{name}/load takes


def test_a_server_that_gives_no_list_says_why():
    catalog = Catalog("server", error="the server wants an API key (set IMPETUS_API_KEY)")
    (entry,) = model_actions(catalog, None, enabled=True)
    assert not entry.enabled and entry.label.startswith("models unavailable: the server wants")
