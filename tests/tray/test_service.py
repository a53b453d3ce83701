"""`impetus service`: the generated systemd unit and launchd plist, installed into a temp HOME."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from impetus import service
from impetus.tray.cli import service_app


@pytest.fixture
def linux(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")


def test_install_writes_units_into_the_user_dir(linux, isolated, tmp_path):
    result = CliRunner().invoke(
        service_app, ["install", "--tray", "--port", "8123", "--no-now"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    unit_dir = tmp_path / "home" / ".config" / "systemd" / "user"
    server_unit = (unit_dir / "impetus.service").read_text()
    assert f"ExecStart={sys.executable} -m impetus serve --port 8123" in server_unit
    assert "Restart=on-failure" in server_unit
    assert f"StandardOutput=append:{isolated / 'logs' / 'server.log'}" in server_unit
    assert f"Environment=IMPETUS_DATA_DIR={isolated}" in server_unit
    assert "WantedBy=default.target" in server_unit
    tray_unit = (unit_dir / "impetus-tray.service").read_text()
    assert "-m impetus.tray --service --port 8123" in tray_unit
    assert "WantedBy=graphical-session.target" in tray_unit
    assert (isolated / "logs").is_dir()

    if shutil.which("systemd-analyze"):
        for unit in ("impetus.service", "impetus-tray.service"):
            verify = subprocess.run(
                ["systemd-analyze", "verify", "--man=no", str(unit_dir / unit)],
                capture_output=True,
                text=True,
            )
            assert verify.returncode == 0, verify.stderr

    result = CliRunner().invoke(service_app, ["uninstall"], catch_exceptions=False)
    assert not (unit_dir / "impetus.service").exists()
    assert not (unit_dir / "impetus-tray.service").exists()


def test_api_keys_never_land_in_unit_files(linux, monkeypatch):
    monkeypatch.setenv("IMPETUS_API_KEY", "secret")
    monkeypatch.setenv("IMPETUS_PORT", "9000")
    env = service.service_environment()
    assert env["IMPETUS_PORT"] == "9000" and "IMPETUS_API_KEY" not in env


def test_systemd_quoting():
    text = service.render_unit(
        "impetus.service", ["/opt/my app/python", "-m", "impetus", "50%"], service.Path("/l"), {}
    )
    assert 'ExecStart="/opt/my app/python" -m impetus "50%%"' in text


def test_launchd_plist(monkeypatch, tmp_path, isolated):
    monkeypatch.setattr(sys, "platform", "darwin")
    paths = service.install(port=8124, tray=True, activate=False)
    agents = tmp_path / "home" / "Library" / "LaunchAgents"
    assert paths == [agents / "dev.impetus.server.plist", agents / "dev.impetus.tray.plist"]
    server = plistlib.loads(paths[0].read_bytes())
    assert server["Label"] == "dev.impetus.server"
    assert server["ProgramArguments"] == [
        sys.executable,
        "-m",
        "impetus",
        "serve",
        "--port",
        "8124",
    ]
    assert server["RunAtLoad"] is True
    assert server["KeepAlive"] == {"SuccessfulExit": False}
    assert server["StandardErrorPath"] == str(isolated / "logs" / "server.log")
    assert server["EnvironmentVariables"]["IMPETUS_DATA_DIR"] == str(isolated)
    tray = plistlib.loads(paths[1].read_bytes())
    assert tray["LimitLoadToSessionType"] == "Aqua"
    assert tray["ProgramArguments"][1:] == ["-m", "impetus.tray", "--service", "--port", "8124"]


def test_logs_command_prints_the_tail(linux, isolated):
    log = isolated / "logs" / "server.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    result = CliRunner().invoke(service_app, ["logs", "-n", "3"], catch_exceptions=False)
    assert result.output.splitlines() == ["line 97", "line 98", "line 99"]
