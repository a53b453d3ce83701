"""The UI benchmark's verdicts and report (the measurement itself runs with `impetus bench ui`)."""

from __future__ import annotations

from impetus.bench.ui import UiResult, Window, frame_verdict, long_task_verdict, render


def _window(**kw) -> Window:
    base = dict(
        frames=1080, frame_p50_ms=16.67, frame_p95_ms=16.7, frame_p99_ms=16.9,
        frame_max_ms=33.4, frames_over_target=1, long_tasks=0, long_task_max_ms=0.0,
    )  # fmt: skip
    return Window(**{**base, **kw})


def _result(overview: Window | None = None, **kw) -> UiResult:
    base = dict(
        seconds=18.0, streams=8, overview=overview or _window(), control=_window(),
        tokens_per_s=120.0, cpu_total_percent=100.0, cpu_ours_percent=60.0,
        load_avg=(3.0, 2.5, 2.0),
    )  # fmt: skip
    return UiResult(**{**base, **kw})


def test_frame_verdict_tells_jitter_from_dropped_frames() -> None:
    assert frame_verdict(16.6) == "ok"
    assert "timer jitter" in frame_verdict(16.8)
    assert frame_verdict(33.3) == "**missed**"


def test_long_task_verdict() -> None:
    assert long_task_verdict(0) == "ok"
    assert long_task_verdict(1) == "**missed**"


def test_report_names_other_load_on_a_shared_machine() -> None:
    slow = _window(long_tasks=1, long_task_ms=[72.1], long_task_max_ms=72.1)
    busy = render(_result(slow, cpu_ours_percent=40.0))
    assert "60.0 % by other processes" in busy and "shared" in busy and "control" in busy
    assert "none > 50 ms: **missed**" in busy and "72.1" in busy
    quiet = render(_result(cpu_total_percent=62.0))
    assert "otherwise idle" in quiet
