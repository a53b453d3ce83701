"""The dashboard's own unit tests (vitest), run as part of the Python suite so `make test` has them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"


def test_vitest_suite_passes() -> None:
    if not (WEB / "node_modules").is_dir():
        pytest.fail("web/node_modules is missing: run `make web` (make test does)")
    npm = shutil.which("npm")
    assert npm, "node and npm are needed to test the dashboard"
    done = subprocess.run(
        [npm, "test", "--silent"], cwd=WEB, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
