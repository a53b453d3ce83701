"""When the tray reads /metrics: only while its menu is open or the server is busy.

A fake client counts the requests, so these run in milliseconds and check the policy itself;
test_actions.py and the Xvfb test run the same controller against real servers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from impetus.tray import activity
from impetus.tray.actions import TrayController
from impetus.tray.catalog import Catalog
from impetus.tray.state import Health, Metrics, ProcessInfo, Status


class FakeClient:
    base_url = "http://127.0.0.1:9"
    host, port = "127.0.0.1", 9

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.active = 0
        self.started = time.monotonic()

    def health(self) -> Health:
        self.calls.append("health")
        return Health(True, True, "ready", model="m", started_at=self.started)

    def metrics(self) -> Metrics:
        self.calls.append("metrics")
        return Metrics(12.5, self.active, 0)

    def models(self) -> Catalog:
        self.calls.append("models")
        return Catalog("server")

    def count(self, name: str) -> int:
        return self.calls.count(name)


class FakeManager:
    def info(self) -> ProcessInfo:
        return ProcessInfo(owned=True, running=True)  # no pid: nothing for the CPU watch


@pytest.fixture
def ctl(monkeypatch, tmp_path: Path):
    monkeypatch.setattr("impetus.tray.actions.listener_pid", lambda port: None)
    controller = TrayController(
        FakeClient(), FakeManager(), model_dirs=[tmp_path], log_path=tmp_path / "log"
    )
    controller.metrics_every = 0  # each refresh is "a second later" (one test checks the limit)
    yield controller
    controller.close()


def test_idle_heartbeats_read_health_only(ctl):
    for _ in range(5):
        snap = ctl.refresh()
    assert snap.status is Status.READY and snap.activity is None
    assert ctl.client.count("metrics") == 0 and ctl.client.count("health") == 5
    assert ctl.client.count("models") == 1  # the list once, when the server first answered
    assert snap.title == "Impetus: ready (m)"


def test_an_open_menu_reads_metrics_and_the_list_again(ctl):
    ctl.refresh()
    ctl.menu_opened()
    snap = ctl.refresh()
    assert ctl.client.count("metrics") == 1 and ctl.client.count("models") == 2
    assert snap.title == "Impetus: ready (m) - 12.5 tok/s, 0 active"
    ctl.menu_closed()
    ctl.refresh()
    assert ctl.client.count("metrics") == 1


def test_a_busy_server_keeps_metrics_coming_until_it_is_idle(ctl):
    ctl.client.active = 2
    ctl.menu_opened()
    assert ctl.refresh().status is Status.BUSY
    ctl.menu_closed()
    snap = ctl.refresh()  # busy: metrics again, with the menu closed
    assert snap.status is Status.BUSY and ctl.client.count("metrics") == 2
    assert "busy (m) - 12.5 tok/s, 2 active" in snap.title
    ctl.client.active = 0
    assert ctl.refresh().status is Status.READY  # the read that sees it idle
    ctl.refresh()
    assert ctl.client.count("metrics") == 3  # and then no more


def test_metrics_are_read_at_most_once_a_second_whoever_asks(ctl):
    ctl.metrics_every = 1.0
    ctl.menu_opened()
    for _ in range(5):  # e.g. the control socket's wait_for, which refreshes every 0.1 s
        ctl.refresh()
    assert ctl.client.count("metrics") == 1 and ctl.client.count("health") == 5


def test_server_cpu_is_the_hint_that_work_started(ctl, monkeypatch):
    ctl.refresh()
    monkeypatch.setattr(ctl._cpu, "working", lambda pid: True)
    ctl.client.active = 1
    assert ctl.refresh().status is Status.BUSY
    assert ctl.client.count("metrics") == 1


def test_cpu_watch_needs_a_baseline_and_a_second(monkeypatch):
    clock = {"now": 100.0, "cpu": 5.0}
    monkeypatch.setattr(activity.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(activity, "_cpu_seconds", lambda pid: clock["cpu"])
    watch = activity.CpuWatch()
    assert watch.working(42) is False  # baseline
    clock.update(now=100.5, cpu=6.0)
    assert watch.working(42) is False  # half a second is too short to judge
    clock.update(now=101.0, cpu=6.0)
    assert watch.working(42) is True  # 1 s of CPU in 1 s
    clock.update(now=106.0, cpu=6.01)
    assert watch.working(42) is False  # 0.2% of a core: idle
    assert watch.working(None) is False


def test_menu_opened_can_wait_for_the_fresh_snapshot(ctl):
    ctl.start_polling()
    ctl.wait_for(Status.READY, timeout=5)
    before = ctl.client.count("metrics")
    started = time.monotonic()
    ctl.menu_opened(wait=2.0)
    assert time.monotonic() - started < 1.0  # the poller answered; no sleeping out the wait
    assert ctl.client.count("metrics") > before
    assert ctl.snapshot.activity == "12.5 tok/s · 0 active"


def test_the_launch_start_is_not_a_user_looking(ctl):
    ctl.perform("refresh", looking=False).result(5)
    assert not ctl.menu_open
    ctl.perform("refresh").result(5)
    assert ctl.menu_open


def test_a_listener_sees_notices_too(ctl):
    seen = threading.Event()
    ctl.refresh()
    ctl.add_listener(lambda snap: seen.set())
    ctl.notice = "copied"
    ctl.refresh()  # same snapshot, new notice: the menu must be rebuilt to show it
    assert seen.is_set()
