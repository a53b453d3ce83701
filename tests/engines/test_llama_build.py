"""The llama.cpp that `make install` put in the venv: the pinned release, built with our patches."""

from __future__ import annotations

import re
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATCHES = ROOT / "patches" / "llama-cpp-python"


def test_the_installed_build_is_the_pinned_release_with_our_patches():
    pin = re.search(r'"llama-cpp-python==([^";]+)"', (ROOT / "pyproject.toml").read_text())[1]
    installed = version("llama-cpp-python")
    release, _, label = installed.partition("+")
    assert release == pin
    assert label.startswith("impetus."), f"{installed}: not built by patches/llama-cpp-python"


def test_the_build_key_follows_the_patches_and_flags(tmp_path, monkeypatch):
    sys.path.insert(0, str(PATCHES))
    try:
        import build_wheel
    finally:
        sys.path.remove(str(PATCHES))
    patches = sorted(PATCHES.glob("*.patch"))
    assert patches, "no patches: the build would be the stock library"
    base = build_wheel.build_key("0.3.36", patches)
    assert build_wheel.build_key("0.3.36", patches) == base
    assert build_wheel.build_key("0.3.37", patches) != base
    changed = tmp_path / patches[0].name
    changed.write_bytes(patches[0].read_bytes() + b"\n")
    assert build_wheel.build_key("0.3.36", [changed, *patches[1:]]) != base
    monkeypatch.setenv("CFLAGS", "-O1")
    assert build_wheel.build_key("0.3.36", patches) != base
