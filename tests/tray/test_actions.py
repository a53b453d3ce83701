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


def loaded_models(url: str) -> set[str]:
    return {m["name"] for m in httpx.get(f"{url}/admin/models", timeout=30).json()["loaded"]}


def model_entry(ctl, name: str):
    return next(a for a in ctl.actions() if a.group == "models" and a.arg == name)


def test_start_chat_switch_stop(make_controller, isolated):
    # A second model in the folder before the server starts: its registry scan finds it.
    other = isolated / "models" / "other.gguf"
    shutil.copyfile(isolated / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf", other)
    ctl = make_controller()
    assert ctl.refresh().status is Status.STOPPED
    assert [a.id for a in ctl.actions()][:2] == ["start", "stop"]

    ctl.perform("start").result(30)
    snap = ctl.wait_for(Status.READY, Status.ERROR, timeout=30)
    assert snap.status is Status.READY, snap
    assert snap.owned and snap.model == "SmolLM2-135M-Instruct.Q4_1"
    assert snap.active_requests == 0  # read from /metrics: the start was a click
    assert chat(snap.url)
    assert ctl.actions()[0].id == "dashboard"

    # The list is the server's registry now (its alias too), not the folder.
    assert ctl.catalog.source == "server"
    default = model_entry(ctl, "SmolLM2-135M-Instruct.Q4_1")
    assert default.checked and default.label == "SmolLM2-135M-Instruct.Q4_1 (smollm2:135m)"

    # Switch: the running server loads it over HTTP; no restart (same pid).
    first_pid = snap.pid
    ctl.perform("switch", model_entry(ctl, "other").arg).result(60)
    assert ctl.notice is None
    snap = ctl.refresh()
    assert snap.status is Status.READY and snap.model == "other"
    assert snap.pid == first_pid
    assert model_entry(ctl, "other").checked
    assert not model_entry(ctl, "SmolLM2-135M-Instruct.Q4_1").checked
    assert loaded_models(snap.url) == {"SmolLM2-135M-Instruct.Q4_1", "other"}
    assert "Impetus: ready (other)" in snap.title

    # Back to the default: the tray's earlier choice is unloaded, the pinned default stays.
    ctl.perform("switch", "SmolLM2-135M-Instruct.Q4_1").result(60)
    snap = ctl.refresh()
    assert snap.model == "SmolLM2-135M-Instruct.Q4_1"
    assert loaded_models(snap.url) == {"SmolLM2-135M-Instruct.Q4_1"}

    ctl.perform("switch", "no-such-model").result(30)
    assert "could not load no-such-model" in ctl.notice and "does not exist" in ctl.notice

    ctl.perform("stop").result(30)
    assert ctl.refresh().status is Status.STOPPED
    log = (isolated / "logs" / "server.log").read_text()
    assert "impetus tray starts the server" in log


def test_switch_with_no_server_starts_one_on_that_file(make_controller, isolated):
    other = isolated / "models" / "other.gguf"
    shutil.copyfile(isolated / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf", other)
    ctl = make_controller()
    ctl.refresh()
    assert ctl.catalog.source == "folder"  # no server: the folder is all there is
    assert {a.arg for a in ctl.actions() if a.group == "models"} == {
        "SmolLM2-135M-Instruct.Q4_1",
        "other",
    }
    ctl.perform("switch", "other").result(60)
    snap = ctl.wait_for(Status.READY, Status.ERROR, timeout=30)
    assert snap.status is Status.READY and snap.model == "other" and snap.owned
    assert ctl.catalog.source == "server"


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
    assert snap.error in snap.title  # on the icon too, for backends with no menu

    # Switch model restarts our server on a good model: only a restart clears its error.
    ctl.refresh()
    good = model_entry(ctl, "SmolLM2-135M-Instruct.Q4_1")
    assert good.enabled
    old_pid = snap.pid
    ctl.perform("switch", good.arg).result(60)
    snap = ctl.wait_for(Status.READY, Status.ERROR, timeout=30)
    assert snap.status is Status.READY and snap.model == good.arg and snap.pid != old_pid

    ctl.perform("stop").result(30)
    assert ctl.refresh().status is Status.STOPPED


def test_attaches_to_a_running_server_and_leaves_it_alone(make_controller, isolated):
    other = isolated / "models" / "other.gguf"
    shutil.copyfile(isolated / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf", other)
    owner = make_controller()
    owner.perform("start").result(30)
    assert owner.wait_for(Status.READY, timeout=30).status is Status.READY

    watcher = make_controller()
    watcher.perform("start").result(30)  # already running: attach, do not spawn
    snap = watcher.refresh()
    assert snap.status is Status.READY and not snap.owned
    assert not next(a for a in watcher.actions() if a.id == "stop").enabled

    # Switching works on a server the tray did not start: an HTTP call, not a restart.
    entry = model_entry(watcher, "other")
    assert entry.enabled
    watcher.perform("switch", entry.arg).result(60)
    assert watcher.notice is None, watcher.notice
    assert "other" in loaded_models(snap.url)
    assert watcher.refresh().model == "other"

    watcher.close()
    assert owner.refresh().status is Status.READY
