"""`impetus service`: run the server at login as a user-level service.

systemd `--user` units on Linux, a launchd LaunchAgent on macOS. Both restart the server when it
fails (not when it is stopped on purpose) and append its output to `<data dir>/logs/server.log`,
the same file the tray's child server writes, so there is one log to read.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from string import Template

SERVER_UNIT = "impetus.service"
TRAY_UNIT = "impetus-tray.service"
SERVER_LABEL = "dev.impetus.server"
TRAY_LABEL = "dev.impetus.tray"
SERVER_LOG = "server.log"
TRAY_LOG = "tray.log"


class ServiceError(RuntimeError):
    pass


def kind() -> str:
    if sys.platform == "darwin":
        return "launchd"
    if sys.platform.startswith("linux"):
        return "systemd"
    raise ServiceError(f"no user service support on {sys.platform}; run `impetus serve` instead")


def logs_dir() -> Path:
    from impetus.config import Settings

    return Settings().logs_dir


def unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def agents_dir() -> Path:
    return Path.home() / "Library" / "LaunchAgents"


def server_command(port: int | None = None, model: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "impetus", "serve"]
    if port is not None:
        cmd += ["--port", str(port)]
    if model:
        cmd += ["--model", model]
    return cmd


def tray_command(port: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "impetus.tray", "--service"]
    return cmd + (["--port", str(port)] if port is not None else [])


def service_environment() -> dict[str, str]:
    """The IMPETUS_* settings of the installing shell, so the service sees the same config.

    API keys stay out: unit files are world-readable; put keys in the config file instead.
    """
    env = {"PYTHONUNBUFFERED": "1"}
    for key, value in sorted(os.environ.items()):
        if key.startswith("IMPETUS_") and "KEY" not in key:
            env[key] = value
    return env


# ----- rendering -----------------------------------------------------------------------------


def _systemd_quote(arg: str) -> str:
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    if escaped and all(c.isalnum() or c in "/._-+=:,@" for c in escaped):
        return escaped
    return f'"{escaped}"'


def render_unit(template: str, command: list[str], log_path: Path, env: dict[str, str]) -> str:
    text = resources.files("impetus.service_templates").joinpath(template).read_text()
    environment = "\n".join(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in env.items())
    return Template(text).substitute(
        exec_start=" ".join(_systemd_quote(a) for a in command),
        environment=environment,
        log_path=str(log_path).replace("%", "%%"),
    )


def render_plist(
    label: str, command: list[str], log_path: Path, env: dict[str, str], *, gui: bool = False
) -> bytes:
    agent: dict = {
        "Label": label,
        "ProgramArguments": command,
        "RunAtLoad": True,
        # Restart after a crash, not after a clean stop.
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 5,
        "StandardOutPath": str(log_path),
        "StandardErrorPath": str(log_path),
        "EnvironmentVariables": env,
        "ProcessType": "Interactive" if gui else "Background",
    }
    if gui:
        agent["LimitLoadToSessionType"] = "Aqua"
    return plistlib.dumps(agent)


# ----- install and control -------------------------------------------------------------------


def _files(tray: bool) -> list[tuple[str, Path]]:
    if kind() == "launchd":
        names = [SERVER_LABEL, *([TRAY_LABEL] if tray else [])]
        return [(n, agents_dir() / f"{n}.plist") for n in names]
    names = [SERVER_UNIT, *([TRAY_UNIT] if tray else [])]
    return [(n, unit_dir() / n) for n in names]


def tray_installed() -> bool:
    return all(path.exists() for _, path in _files(tray=True))


def installed_files() -> list[Path]:
    return [path for _, path in _files(tray=True) if path.exists()]


def install(
    *, port: int | None = None, model: str | None = None, tray: bool = False, activate: bool = True
) -> list[Path]:
    """Write the unit(s) or agent(s); with `activate`, enable and start them now."""
    logs = logs_dir()
    logs.mkdir(parents=True, exist_ok=True)
    env = service_environment()
    written = []
    for name, path in _files(tray):
        is_tray = name in (TRAY_UNIT, TRAY_LABEL)
        command = tray_command(port) if is_tray else server_command(port, model)
        log_path = logs / (TRAY_LOG if is_tray else SERVER_LOG)
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind() == "launchd":
            path.write_bytes(render_plist(name, command, log_path, env, gui=is_tray))
        else:
            path.write_text(render_unit(name, command, log_path, env))
        written.append(path)
    if activate:
        reload()
        if kind() == "systemd":
            _run("systemctl", "--user", "enable", "--now", *(n for n, _ in _files(tray)))
        else:
            start()
    return written


def uninstall() -> list[Path]:
    removed = []
    try:
        stop(tray=True)
        if kind() == "systemd":
            _run("systemctl", "--user", "disable", *(p.name for p in installed_files()))
    except ServiceError:
        pass  # not loaded, or no service manager: removing the files is what matters
    for path in installed_files():
        path.unlink()
        removed.append(path)
    try:
        reload()
    except ServiceError:
        pass
    return removed


def reload() -> None:
    if kind() == "systemd":
        _run("systemctl", "--user", "daemon-reload")


def start() -> None:
    if kind() == "systemd":
        _run("systemctl", "--user", "start", SERVER_UNIT)
        return
    for label, path in _files(tray=True):
        if path.exists():
            _launchctl_bootstrap(label, path)


def stop(*, tray: bool = False) -> None:
    if kind() == "systemd":
        _run("systemctl", "--user", "stop", SERVER_UNIT, *([TRAY_UNIT] if tray else []))
        return
    for label in [SERVER_LABEL, *([TRAY_LABEL] if tray else [])]:
        _run("launchctl", "bootout", f"gui/{os.getuid()}/{label}", check=False)


def restart() -> None:
    if kind() == "systemd":
        _run("systemctl", "--user", "restart", SERVER_UNIT)
    else:
        stop()
        start()


def is_active() -> bool:
    if kind() == "systemd":
        result = _run("systemctl", "--user", "is-active", SERVER_UNIT, check=False)
        return result.stdout.strip() == "active"
    result = _run("launchctl", "print", f"gui/{os.getuid()}/{SERVER_LABEL}", check=False)
    return result.returncode == 0


def _launchctl_bootstrap(label: str, path: Path) -> None:
    domain = f"gui/{os.getuid()}"
    loaded = _run("launchctl", "print", f"{domain}/{label}", check=False).returncode == 0
    if not loaded:
        _run("launchctl", "bootstrap", domain, str(path))
    _run("launchctl", "kickstart", f"{domain}/{label}")


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise ServiceError(
            f"{cmd[0]} not found: this system has no {kind()} user manager"
        ) from None
    except subprocess.TimeoutExpired:
        raise ServiceError(f"{' '.join(cmd)} did not answer in 30 s") from None
    if check and result.returncode != 0:
        why = (result.stderr or result.stdout).strip() or f"exit code {result.returncode}"
        raise ServiceError(f"{' '.join(cmd)}: {why}")
    return result


def follow(path: Path, lines: int = 50, *, forever: bool = False) -> None:
    """Print the last `lines` lines of `path`; with `forever`, keep printing what is appended."""
    if not path.exists():
        print(f"no log yet at {path}")
        if not forever:
            return
        while not path.exists():
            time.sleep(0.5)
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 256 * 1024))
        tail = f.read().decode("utf-8", "replace").splitlines()[-lines:] if lines else []
        for line in tail:
            print(line)
        while forever:
            chunk = f.read()
            if chunk:
                sys.stdout.write(chunk.decode("utf-8", "replace"))
                sys.stdout.flush()
            else:
                time.sleep(0.5)
