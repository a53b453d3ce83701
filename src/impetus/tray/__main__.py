"""`python -m impetus.tray`: the same as `impetus tray`."""

import typer

from impetus.tray.cli import tray

typer.run(tray)
