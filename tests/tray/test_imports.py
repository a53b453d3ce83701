"""The tray talks HTTP only: building it must not import the engines (or llama.cpp).

Run in a fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from impetus.bench.display import HeadlessDisplay, missing_tools

FORBIDDEN = ("llama_cpp", "impetus.engines")

PROBE = """
import json, sys
from impetus.config import Settings
from impetus.tray.cli import build_controller

ctl = build_controller(Settings(model="{model}", port={port}))
ctl.refresh()
ctl.actions()
if {with_app}:
    from impetus.tray.pystray_app import PystrayApp

    PystrayApp(ctl)
ctl.close()
bad = [m for m in sys.modules if m.split(".")[0] == "llama_cpp" or m.startswith("impetus.engines")]
print(json.dumps(sorted(bad)))
"""


def imported(
    model: str, port: int, *, with_app: bool = False, env: dict | None = None
) -> list[str]:
    code = PROBE.format(model=model, port=port, with_app=with_app)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or os.environ.copy(),
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_controller_imports_no_engine(real_model, port):
    assert imported(str(real_model), port) == [], FORBIDDEN


@pytest.mark.skipif(bool(missing_tools()), reason="needs Xvfb and a tray host for pystray")
def test_the_pystray_app_imports_no_engine(real_model, port):
    with HeadlessDisplay() as display:
        env = {**os.environ, "DISPLAY": display.name}
        assert imported(str(real_model), port, with_app=True, env=env) == [], FORBIDDEN
