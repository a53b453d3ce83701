"""`impetus bench tray`'s report: its BENCHMARKS.md section and the idle request count.

The measurement itself (60 s under Xvfb) is the benchmark; these check what it writes.
"""

from __future__ import annotations

from impetus.bench.tray import _requests_since, report, write_section

RESULT = {
    "seconds": 60.0,
    "rss_mb_max": 48.9,
    "rss_mb_mean": 48.7,
    "cpu_percent": 0.05,
    "health_requests": 12,
    "metrics_requests": 0,
}


def test_report_is_a_table_with_the_budgets():
    text = report(RESULT)
    assert "| RSS max | 48.9 MiB | < 60 MB (57.2 MiB): ok |" in text
    assert "| idle CPU | 0.05 % | ~0 % |" in text
    assert "| GET /metrics while idle | 0 | 0: ok |" in text
    over = report({**RESULT, "rss_mb_max": 58.0, "metrics_requests": 3})
    assert "OVER BUDGET" in over and "0: polled while idle" in over


def test_the_section_is_written_once_and_replaced_in_place(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    out.write_text(
        "# Benchmarks\n\n<!-- bench startup: begin -->\nkept\n<!-- bench startup: end -->\n"
    )
    write_section(out, report(RESULT))
    write_section(out, report({**RESULT, "cpu_percent": 0.07}))
    text = out.read_text()
    assert text.count("<!-- bench tray: begin -->") == 1 and "kept" in text
    assert "## Tray" in text and "Command: `impetus bench tray`" in text
    assert "0.07 %" in text and "0.05 %" not in text


def test_idle_requests_are_counted_from_the_server_log(tmp_path):
    log = tmp_path / "server.log"
    before = "x level=INFO logger=impetus.access method=GET path=/metrics status=200 latency_ms=1\n"
    log.write_text(before)
    with log.open("a") as f:
        for path in ("/health", "/health", "/metrics", "/admin/models", "/healthz"):
            f.write(f"x level=INFO logger=impetus.access method=GET path={path} status=200 l=1\n")
    assert _requests_since(log, len(before)) == {"health": 2, "metrics": 1}
    assert _requests_since(tmp_path / "missing.log", 0) == {"health": 0, "metrics": 0}
