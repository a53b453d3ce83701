"""Fixtures for the tray tests: an isolated HOME/config/data dir, the real bundled model, free ports,
and controllers whose servers are always killed on teardown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import MODEL_PATH, free_port


@pytest.fixture(scope="session")
def real_model() -> Path:
    """The bundled model where `impetus setup` put it (the root conftest makes sure it is there)."""
    return MODEL_PATH


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_model: Path) -> Path:
    """HOME, XDG dirs, config and data all in tmp; the models folder links the real model."""
    home = tmp_path / "home"
    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    (data / "models" / real_model.name).symlink_to(real_model)
    for key in [k for k in os.environ if k.startswith("IMPETUS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("IMPETUS_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("IMPETUS_DATA_DIR", str(data))
    return data


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def make_controller(port: int):
    """Build real controllers (child `impetus serve` processes); stop them all afterwards."""
    from impetus.config import Settings
    from impetus.tray.cli import build_controller

    made = []

    def make(**settings):
        controller = build_controller(Settings(port=port, **settings))
        made.append(controller)
        return controller

    yield make
    for controller in made:
        controller.close()
        proc = getattr(controller.manager, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
