"""The action layer against real `impetus serve` children and the real bundled model."""

from __future__ import annotations

import os
import shutil
import signal
import socket

import httpx

from impetus.tray.state import Status


def chat(url: str) -> str:
    reply = httpx.post(
        f"{url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 8},
        timeout=120,
    )
    reply.raise_for_status()
    return reply.json()["choices"][0]["message"]["content"]


def test_start_chat_switch_stop(make_controller, isolated):
    ctl = make_controller()
    assert ctl.refresh().status is Status.STOPPED
    assert [a.id for a in ctl.actions()][:2] == ["start", "stop"]

    ctl.perform("start").result(30)
    snap = ctl.wait_for(Status.READY, Status.ERROR, timeout=30)
    assert snap.status is Status.READY, snap
    assert snap.owned and snap.model == "SmolLM2-135M-Instruct.Q4_1"
    assert snap.active_requests == 0  # read from /metrics
    assert chat(snap.url)
    assert ctl.actions()[0].id == "dashboard"

    # Switch to a second file in the models folder: the child restarts with --model.
    other = isolated / "models" / "other.gguf"
    shutil.copyfile(isolated / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf", other)
    choice = next(a for a in ctl.actions() if a.group == "models" and a.label == "other")
    old_pid = snap.pid
    ctl.perform("switch", choice.arg).result(60)
    snap = ctl.wait_for(Status.READY, Status.ERROR, timeout=30)
    assert snap.status is Status.READY and snap.model == "other" and snap.pid != old_pid
    assert next(a for a in ctl.actions() if a.label == "other").checked

    ctl.perform("stop").result(30)
    assert ctl.refresh().status is Status.STOPPED
    log = (isolated / "logs" / "server.log").read_text()
    assert "impetus tray starts the server" in log


def test_copy_url_and_logs_report_back(make_controller):
    ctl = make_controller()
    ctl.perform("copy_url").result(10)
    assert ctl.url + "/v1" in ctl.notice
    ctl.perform("logs").result(10)  # no xdg-open here is fine: it says where the logs are


def test_crash_shows_error_with_the_exit(make_controller):
    ctl = make_controller()
    ctl.perform("start").result(30)
    snap = ctl.wait_for(Status.READY, Status.ERROR, timeout=30)
    assert snap.status is Status.READY
    os.kill(snap.pid, signal.SIGKILL)
    snap = ctl.wait_for(Status.ERROR, timeout=10)
    assert snap.status is Status.ERROR
    assert "the server exited (code -9)" in snap.error
    # Start again clears the error.
    ctl.perform("start").result(30)
    assert ctl.wait_for(Status.READY, timeout=30).status is Status.READY


def test_port_taken_by_another_program(make_controller, port):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        ctl = make_controller()
        ctl.perform("start").result(30)
        snap = ctl.refresh()
        assert snap.status is Status.ERROR
        assert f"port {port} is in use by another program" in snap.error
        assert ctl.manager.info().running is False  # no child was spawned into a dead end


def test_model_that_fails_to_load(make_controller, isolated):
    broken = isolated / "models" / "broken.gguf"
    broken.write_bytes(b"this is not a gguf file" * 100)
    ctl = make_controller(model=str(broken))
    ctl.perform("start").result(30)
    snap = ctl.wait_for(Status.ERROR, timeout=30)
    assert snap.status is Status.ERROR and snap.error
    assert snap.owned  # the server stays up to report it; Stop and Switch model still work
    ctl.perform("stop").result(30)
    assert ctl.refresh().status is Status.STOPPED


def test_attaches_to_a_running_server_and_leaves_it_alone(make_controller, port):
    owner = make_controller()
    owner.perform("start").result(30)
    assert owner.wait_for(Status.READY, timeout=30).status is Status.READY

    watcher = make_controller()
    watcher.perform("start").result(30)  # already running: attach, do not spawn
    snap = watcher.refresh()
    assert snap.status is Status.READY and not snap.owned
    assert not next(a for a in watcher.actions() if a.id == "stop").enabled
    watcher.close()
    assert owner.refresh().status is Status.READY
