"""`impetus tray` and `impetus service …`. Registered by impetus.cli; GUI imports stay inside."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

service_app = typer.Typer(help="Run the server at login (systemd --user / launchd).")


def _settings(**given):
    from pydantic import ValidationError

    from impetus.config import Settings

    try:
        return Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        typer.secho(f"error: invalid setting: {first['msg']}", fg="red", err=True)
        raise typer.Exit(2) from None


def build_controller(settings, *, use_service: bool = False):
    """The tray core for these settings: client, server manager and controller, no GUI."""
    from impetus.models.resolve import ModelNotFound, resolve_model_path
    from impetus.tray.actions import TrayController
    from impetus.tray.client import ServerClient
    from impetus.tray.server import ChildServer, ServiceServer

    keys = settings.api_key_values()
    client = ServerClient(settings.host, settings.port, api_key=keys[0] if keys else None)
    log_path = settings.logs_dir / "server.log"
    controller: TrayController | None = None

    def changed() -> None:
        if controller is not None:
            controller.wake()

    if use_service:
        manager = ServiceServer(port=settings.port, on_change=changed)
    else:
        manager = ChildServer(settings.host, settings.port, log_path, on_change=changed)
    model = None
    if settings.model:
        try:
            model = resolve_model_path(
                settings.model, settings.models_dir, settings.extra_model_dirs
            )
        except ModelNotFound as exc:
            manager.fail(str(exc))
    controller = TrayController(
        client,
        manager,
        model_dirs=settings.model_dirs,
        log_path=log_path,
        model=model,
        keep_alive=settings.keep_alive,
    )
    return controller


def tray(
    port: Annotated[int | None, typer.Option(help="Server port \\[default: 8080].")] = None,
    host: Annotated[str | None, typer.Option(help="Server address \\[default: 127.0.0.1].")] = None,
    model: Annotated[
        str | None, typer.Option(help="Model for a server the tray starts \\[default: bundled].")
    ] = None,
    start: Annotated[
        bool, typer.Option(help="Start a server at launch unless one is already running.")
    ] = True,
    service: Annotated[
        bool, typer.Option(help="Start and stop the login service instead of a child process.")
    ] = False,
    control: Annotated[Path | None, typer.Option(hidden=True, help="Control socket path.")] = None,
) -> None:
    """A menubar/tray icon: server status, start/stop, switch model, dashboard, logs."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
    )
    settings = _settings(port=port, host=host, model=model)
    controller = build_controller(settings, use_service=service)
    try:
        if sys.platform == "darwin":
            from impetus.tray.rumps_app import RumpsApp as App
        else:
            from impetus.tray.pystray_app import PystrayApp as App
        app = App(controller)
    except Exception as exc:  # no display, no tray library: say so instead of a traceback
        typer.secho(f"error: cannot show a tray icon: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    if control is not None:
        from impetus.tray.control import serve_control

        serve_control(controller, control)

    def on_signal(signum, frame) -> None:
        controller.close()
        app.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if start:
        controller.perform("start", looking=False)  # nobody opened a menu: no fast polling
    app.run()
    controller.close()


@service_app.command()
def install(
    port: Annotated[
        int | None, typer.Option(help="Server port \\[default: from settings].")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model \\[default: from settings].")] = None,
    tray: Annotated[bool, typer.Option(help="Also start the tray icon at login.")] = False,
    now: Annotated[bool, typer.Option(help="Enable and start it now.")] = True,
) -> None:
    """Install the server (and optionally the tray) as a login service."""
    from impetus import service as svc

    try:
        paths = svc.install(port=port, model=model, tray=tray, activate=False)
        for path in paths:
            typer.echo(f"installed {path}")
        if now:
            svc.install(port=port, model=model, tray=tray, activate=True)
            typer.echo("started; logs: impetus service logs")
    except svc.ServiceError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None


@service_app.command()
def uninstall() -> None:
    """Stop the service and remove its files."""
    from impetus import service as svc

    try:
        for path in svc.uninstall():
            typer.echo(f"removed {path}")
    except svc.ServiceError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None


def _control(name: str) -> None:
    from impetus import service as svc

    try:
        getattr(svc, name)()
    except svc.ServiceError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None


@service_app.command("start")
def start_cmd() -> None:
    """Start the installed service."""
    _control("start")


@service_app.command("stop")
def stop_cmd() -> None:
    """Stop the service (it starts again at next login)."""
    _control("stop")


@service_app.command()
def status() -> None:
    """Installed? Running? And what the server itself says."""
    from impetus import service as svc
    from impetus.tray.client import ServerClient

    settings = _settings()
    files = svc.installed_files()
    typer.echo(f"installed: {', '.join(map(str, files)) if files else 'no'}")
    try:
        typer.echo(f"active:    {'yes' if svc.is_active() else 'no'}")
    except svc.ServiceError as exc:
        typer.echo(f"active:    unknown ({exc})")
    health = ServerClient(settings.host, settings.port).health()
    if not health.reachable:
        typer.echo(f"server:    not answering on port {settings.port}")
    else:
        line = f"server:    {health.status}" + (f" ({health.model})" if health.model else "")
        typer.echo(line + (f": {health.error}" if health.error else ""))
    typer.echo(f"logs:      {settings.logs_dir / svc.SERVER_LOG}")
    raise typer.Exit(0 if files else 3)


@service_app.command()
def logs(
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many lines.")] = 50,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing.")] = False,
    tray: Annotated[bool, typer.Option(help="The tray's log instead of the server's.")] = False,
) -> None:
    """Show the service's log (the same file the tray's server writes)."""
    from impetus import service as svc

    path = svc.logs_dir() / (svc.TRAY_LOG if tray else svc.SERVER_LOG)
    try:
        svc.follow(path, lines, forever=follow)
    except KeyboardInterrupt:
        pass
