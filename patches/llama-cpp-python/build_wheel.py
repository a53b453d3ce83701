"""Build the pinned llama-cpp-python with the patches in this folder, once per machine.

    python patches/llama-cpp-python/build_wheel.py 0.3.36   # prints the wheel's path

`make install` runs this before installing Impetus, so the patched wheel satisfies the pin
(`llama-cpp-python==0.3.36`; the wheel's version is `0.3.36+impetus.<key>`). The wheel is
cached under the user cache folder, keyed by the version, the patches, the compiler flags and
the interpreter, so a fresh clone on the same machine installs it in seconds instead of
compiling llama.cpp again (4-7 minutes on 2 cores). Impetus runs on the unpatched library too:
the patches change speed, never results.

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cache_root() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "impetus" / "wheels"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "impetus" / "wheels"


def build_key(version: str, patches: list[Path]) -> str:
    h = hashlib.sha256(version.encode())
    for patch in patches:
        h.update(patch.name.encode() + patch.read_bytes())
    for part in (
        os.environ.get("CFLAGS", ""),
        os.environ.get("CXXFLAGS", ""),
        os.environ.get("CMAKE_ARGS", ""),
        platform.machine(),
        sysconfig.get_platform(),
        sys.implementation.cache_tag,
    ):
        h.update(b"\0" + part.encode())
    return h.hexdigest()[:12]


def apply(patch: Path, src: Path) -> None:
    """`patch -p1`, or `git apply` where the patch tool is not installed (minimal images)."""
    if shutil.which("patch"):
        cmd = ["patch", "-p1", "--forward", "--batch", "-i", str(patch)]
    else:
        cmd = ["git", "apply", "-p1", str(patch)]
    subprocess.run(cmd, cwd=src, check=True, stdout=subprocess.DEVNULL)


def _pip(command: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", command, "--quiet", "--no-deps", *args], check=True
    )


def build(version: str) -> Path:
    patches = sorted(HERE.glob("*.patch"))
    key = build_key(version, patches)
    out = cache_root() / f"llama-cpp-python-{version}-{key}"
    cached = sorted(out.glob("*.whl"))
    if cached:
        return cached[0]
    with tempfile.TemporaryDirectory(prefix="impetus-llama-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"building llama-cpp-python {version} with {len(patches)} patch(es)", file=sys.stderr)
        _pip("download", "--no-binary", ":all:", f"llama-cpp-python=={version}", "-d", str(tmp))
        sdist = next(tmp.glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        src = next(p for p in tmp.glob("llama_cpp_python-*") if p.is_dir())
        for patch in patches:
            apply(patch, src)
        # A local version label: `pip list` and the bench's machine line (bench/report.py) tell
        # the patched build, and it still satisfies the `==version` pin.
        init = src / "llama_cpp" / "__init__.py"
        text = init.read_text()
        if f'__version__ = "{version}"' not in text:
            raise SystemExit(f"unexpected {init}: no __version__ = {version!r}")
        init.write_text(text.replace(f'"{version}"', f'"{version}+impetus.{key}"', 1))
        dist = tmp / "dist"
        _pip("wheel", "-w", str(dist), str(src))
        wheel = next(dist.glob("*.whl"))
        out.mkdir(parents=True, exist_ok=True)
        partial = out / (wheel.name + ".partial")
        shutil.copy2(wheel, partial)
        os.replace(partial, out / wheel.name)
        return out / wheel.name


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(build(sys.argv[1]))
