"""The read-only lines at the top of the menu, shared by both backends."""

from __future__ import annotations

import textwrap

from impetus.tray.state import Snapshot

MAX_ERROR_LINES = 4


def status_lines(snap: Snapshot, notice: str | None) -> list[str]:
    lines = [snap.headline]
    if snap.activity and snap.status.value in ("ready", "busy"):
        lines.append(snap.activity)
    if snap.error:
        wrapped = textwrap.wrap(snap.error, 60) or [snap.error]
        if len(wrapped) > MAX_ERROR_LINES:
            wrapped = [*wrapped[: MAX_ERROR_LINES - 1], wrapped[MAX_ERROR_LINES - 1] + " …"]
        lines += wrapped
    if notice:
        lines.append(notice)
    lines.append(snap.url)
    return lines
