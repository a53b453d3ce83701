"""`impetus chat`: a terminal chat against a running server, driven through its stdin."""

from __future__ import annotations

import subprocess
import sys


def test_chat_streams_replies_and_keeps_the_conversation(server):
    script = "Count from 1 to 5.\n/reset\nSay hello.\n/exit\n"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "impetus",
            "chat",
            "--url",
            server.url,
            "--temperature",
            "0",
            "--max-tokens",
            "40",
        ],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "impetus chat" in out and "SmolLM2" in out
    assert "conversation cleared" in out
    assert "1" in out.split("conversation cleared")[0]  # the first reply streamed out


def test_chat_reports_an_unreachable_server():
    proc = subprocess.run(
        [sys.executable, "-m", "impetus", "chat", "--url", "http://127.0.0.1:9"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "cannot reach" in proc.stdout
