"""Precedence: CLI (init values) > IMPETUS_* env > TOML config file > defaults."""

from __future__ import annotations

import os

import pytest

from impetus.config import Settings, is_loopback_host


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    monkeypatch.setenv("IMPETUS_CONFIG", str(path))
    for var in ("IMPETUS_PORT", "IMPETUS_PARALLEL", "IMPETUS_HOST"):
        monkeypatch.delenv(var, raising=False)
    return path


def test_defaults(config_file):
    s = Settings()
    assert s.host == "127.0.0.1" and s.port == 8080 and s.parallel == 8


def test_toml_then_env_then_cli(config_file, monkeypatch):
    config_file.write_text('port = 9001\nparallel = 2\nhost = "127.0.0.2"\n')
    s = Settings()
    assert (s.port, s.parallel, s.host) == (9001, 2, "127.0.0.2")
    monkeypatch.setenv("IMPETUS_PORT", "9002")
    s = Settings()
    assert (s.port, s.parallel) == (9002, 2)
    s = Settings(port=9003)
    assert (s.port, s.parallel) == (9003, 2)


def test_unknown_or_invalid_settings_fail_loudly(config_file):
    config_file.write_text("prot = 1\n")
    with pytest.raises(ValueError):
        Settings()
    config_file.write_text("port = 70000\n")
    with pytest.raises(ValueError):
        Settings()


def test_loopback_detection():
    assert (
        is_loopback_host("127.0.0.1") and is_loopback_host("::1") and is_loopback_host("localhost")
    )
    assert not is_loopback_host("0.0.0.0") and not is_loopback_host("192.168.1.2")


def test_cli_version_and_help():
    import subprocess
    import sys

    from impetus import __version__

    out = subprocess.run(
        [sys.executable, "-m", "impetus", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == f"impetus {__version__}"
    out = subprocess.run(
        [sys.executable, "-m", "impetus", "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "--api-key" in out.stdout and "--ctx" in out.stdout
    # Rich markup must not swallow the "[default: ...]" part of a help text.
    assert "[default: 8080]" in out.stdout and "[default: 8]" in out.stdout
