"""Switching the running server's model over HTTP: load the new one, let the old one go.

The server is multi-model: every request names its model, and the default model (the one
`/health` reports, used by requests that name none) stays pinned in memory. So "switch" here
means: load the chosen model and keep it loaded while it is the tray's choice (`keep_alive`
-1: no idle timeout, though the memory budget may still evict it), and unload the model the
tray chose before, unless it is pinned (the default, or pinned by the user in the dashboard).
This works the same for a server the tray started and one it attached to.
"""

from __future__ import annotations

from dataclasses import dataclass

from impetus.tray.catalog import Catalog
from impetus.tray.client import ServerClient

KEEP_LOADED = "-1"  # Ollama-style keep_alive: never unload for idleness


@dataclass(frozen=True)
class Switched:
    selected: str | None  # the tray's choice now (None: the server's default model)
    notice: str | None  # what to tell the user, None when all went well


def switch_in_server(
    client: ServerClient,
    name: str,
    catalog: Catalog,
    previous: str | None,
    keep_alive: str,
) -> Switched:
    """Load `name`, then release `previous` (the tray's last choice). `keep_alive` is the idle
    time a released model that is still generating gets, so it unloads once it is done."""
    choice = catalog.find(name)
    reply = client.load_model(name, keep_alive=KEEP_LOADED)
    if not reply.ok:
        return Switched(previous, f"could not load {name}: {reply.error}")
    # The registry's own name, when the user gave an alias (the control socket takes any).
    selected = None if choice is not None and choice.default else (choice.name if choice else name)
    if previous and previous != name:
        _release(client, previous, catalog, keep_alive)
    return Switched(selected, None)


def _release(client: ServerClient, name: str, catalog: Catalog, keep_alive: str) -> None:
    old = catalog.find(name)
    if old is not None and old.pinned:
        return  # the default model, or one the user pinned: not the tray's to unload
    reply = client.unload_model(name)
    if reply.status == 409:  # still generating: hand it back to the normal idle timeout
        client.load_model(name, keep_alive=keep_alive)
