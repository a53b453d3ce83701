"""Menu entries as data: what `TrayController.actions()` returns and every backend draws."""

from __future__ import annotations

from dataclasses import dataclass

from impetus.tray.catalog import Catalog, ModelChoice

MAX_MENU_TEXT = 70  # a long error would make the whole menu as wide as the screen


@dataclass(frozen=True)
class Action:
    id: str
    label: str
    enabled: bool = True
    default: bool = False  # what a plain click on the icon does, where the backend has that
    arg: str | None = None
    checked: bool | None = None
    group: str | None = None  # "models": shown in the "Switch model" submenu


def model_actions(catalog: Catalog, current: str | None, *, enabled: bool) -> list[Action]:
    """The "Switch model" entries: one per model, the current one ticked; or one disabled line
    saying why the server gave no list (no API key, an old server), rather than an empty menu."""
    if catalog.error:
        label = f"models unavailable: {catalog.error}"
        if len(label) > MAX_MENU_TEXT:
            label = label[: MAX_MENU_TEXT - 1] + "…"
        return [Action("switch", label, enabled=False, group="models")]
    return [
        Action(
            "switch",
            choice.label,
            enabled=enabled,
            arg=choice.name,
            checked=same_model(choice, current),
            group="models",
        )
        for choice in catalog.models
    ]


def same_model(choice: ModelChoice, current: str | None) -> bool:
    """Whether `current` (a name from /health, a selection or a file stem) names `choice`."""
    if not current:
        return False
    names = {choice.name.lower(), *(a.lower() for a in choice.aliases)}
    return current.lower() in names
