from impetus.tray.menu_text import status_lines
from impetus.tray.state import (
    FAST_POLL_SECONDS,
    HEARTBEAT_SECONDS,
    MAX_TITLE,
    Health,
    Metrics,
    ProcessInfo,
    Status,
    derive,
    poll_interval,
)

URL = "http://127.0.0.1:8080"
DOWN = Health(reachable=False)


def ready(**kw) -> Health:
    return Health(reachable=True, is_impetus=True, status="ready", model="m", **kw)


def test_stopped_when_nothing_runs():
    assert derive(URL, DOWN, None, ProcessInfo()).status is Status.STOPPED


def test_starting_while_the_child_launches_or_the_model_loads():
    assert derive(URL, DOWN, None, ProcessInfo(launching=True)).status is Status.STARTING
    assert derive(URL, DOWN, None, ProcessInfo(running=True)).status is Status.STARTING
    loading = Health(reachable=True, is_impetus=True, status="loading")
    assert derive(URL, loading, None, ProcessInfo()).status is Status.STARTING


def test_ready_and_busy_follow_the_metrics():
    snap = derive(URL, ready(), Metrics(12.5, 0, 0), ProcessInfo())
    assert (snap.status, snap.model, snap.activity) == (Status.READY, "m", "12.5 tok/s · 0 active")
    assert derive(URL, ready(), Metrics(3.0, 2, 0), ProcessInfo()).status is Status.BUSY
    assert derive(URL, ready(), Metrics(None, 0, 4), ProcessInfo()).status is Status.BUSY


def test_missing_metrics_are_unknown_not_zero():
    snap = derive(URL, ready(), None, ProcessInfo())
    assert snap.status is Status.READY
    assert snap.tokens_per_second is None and snap.activity is None


def test_model_load_failure_shows_the_server_text():
    health = Health(reachable=True, is_impetus=True, status="error", error="bad magic")
    snap = derive(URL, health, None, ProcessInfo(running=True))
    assert (snap.status, snap.error) == (Status.ERROR, "bad magic")


def test_crash_and_port_taken():
    crash = ProcessInfo(exit_code=-9, error="the server exited (code -9): no output")
    assert derive(URL, DOWN, None, crash).error.startswith("the server exited")
    foreign = Health(reachable=True, is_impetus=False)
    snap = derive(URL, foreign, None, ProcessInfo())
    assert snap.status is Status.ERROR and "port 8080 is in use" in snap.error


def test_polls_fast_only_when_someone_looks_or_work_runs():
    assert poll_interval(Status.READY, menu_open=False) == HEARTBEAT_SECONDS
    assert poll_interval(Status.STOPPED, menu_open=False) == HEARTBEAT_SECONDS
    assert poll_interval(Status.READY, menu_open=True) == FAST_POLL_SECONDS
    assert poll_interval(Status.BUSY, menu_open=False) == FAST_POLL_SECONDS
    assert FAST_POLL_SECONDS >= 1.0


def test_the_title_carries_activity_and_errors_for_menuless_backends():
    busy = derive(URL, ready(), Metrics(31.25, 2, 1), ProcessInfo())
    assert busy.title == "Impetus: busy (m) - 31.2 tok/s, 2 active, 1 queued"
    assert busy.title.isascii()
    idle = derive(URL, ready(), None, ProcessInfo())  # metrics not read: nothing claimed
    assert idle.title == "Impetus: ready (m)"
    crash = ProcessInfo(error="the server exited (code -9):\nKilled")
    assert derive(URL, DOWN, None, crash).title == (
        "Impetus: error: the server exited (code -9): Killed"
    )


def test_long_titles_fit_a_windows_tooltip_and_keep_the_numbers():
    health = Health(reachable=True, is_impetus=True, status="ready", model="org/" + "x" * 300)
    title = derive(URL, health, Metrics(9.0, 3, 0), ProcessInfo()).title
    assert len(title) <= MAX_TITLE and title.endswith("...) - 9.0 tok/s, 3 active")
    error = Health(reachable=True, is_impetus=True, status="error", error="bad " * 100)
    assert len(derive(URL, error, None, ProcessInfo()).title) == MAX_TITLE


def test_the_menu_headline_leaves_activity_and_errors_to_their_own_lines():
    snap = derive(URL, ready(), Metrics(12.5, 0, 0), ProcessInfo())
    lines = status_lines(snap, notice="copied")
    assert lines == ["Impetus: ready (m)", "12.5 tok/s · 0 active", "copied", URL]
