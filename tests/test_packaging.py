"""wstape as users install it: the wheel built from this checkout holds every module and data
file under one top-level name, `wstape`; installed (not editable) into a fresh venv, it runs from
an empty folder: `wstape --help`, `import wstape`, `wstape demo`, and a real mitmdump that loads
the installed addon file with -s and records a chat."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, Processes, wait_listening
from wsclient import converse, has_event

from wstape.demo.loopback import free_port, stop
from wstape.recorder import __version__
from wstape.recorder.capture import Message, Open, read_capture

# Each folder the design names, and where the wheel must put its files.
INSTALLED_AS = {"wstape": "wstape", "recorder": "wstape/recorder",
                "analyzer": "wstape/analyzer", "demo": "wstape/demo"}  # fmt: skip
DIST_INFO = f"wstape-{__version__}.dist-info"


def _checkout_files() -> set[str]:
    """Every file of the package folders (modules and data), as the wheel must name it."""
    files = set()
    for folder, installed in INSTALLED_AS.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add(f"{installed}/{path.relative_to(ROOT / folder).as_posix()}")
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout's working tree, built from a copy: a build leaves build/
    and *.egg-info behind, and a stale build/ would put deleted modules into the next wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for path in ROOT.iterdir():
        if path.is_file():
            shutil.copy2(path, source)
    for folder in INSTALLED_AS:
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    # No network: the project venv's setuptools builds it (the `test` extra pins one that can).
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(tmp / "dist"), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (built,) = (tmp / "dist").glob("wstape-*.whl")
    return built


def test_the_wheel_holds_every_module_and_data_file_and_nothing_else(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    package = {name for name in names if name.startswith("wstape/")}
    assert package == _checkout_files()
    assert "wstape/analyzer/profiles/example.toml" in package
    assert "wstape/analyzer/profiles/ag-ui.toml" in package
    assert "wstape/analyzer/profiles/default.toml" in package
    assert {name.split("/")[0] for name in names} == {"wstape", DIST_INFO}


def test_the_wheel_installs_the_wstape_command(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(f"{DIST_INFO}/entry_points.txt").decode()
    assert "wstape = wstape.analyzer.cli.main:main" in entry_points


@dataclass(frozen=True)
class Installed:
    """A fresh venv with the wheel installed, and an empty folder to run it from."""

    python: Path
    bin: Path
    site: Path
    empty: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, cwd=self.empty, env=self.env, capture_output=True, text=True, timeout=timeout
        )


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> Installed:
    tmp = tmp_path_factory.mktemp("installed")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    # Its dependencies come from this venv, without network. A path in a .pth file is added to
    # sys.path after the venv's own site-packages, and the .pth files there are not run, so this
    # venv's editable finder (which maps wstape to the checkout) stays inactive.
    (site / "project_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    empty = tmp / "empty"
    empty.mkdir()
    # As if the venv were activated; Python ignores an empty PYTHONPATH or PYTHONHOME.
    env = {**os.environ, "PYTHONPATH": "", "PYTHONHOME": "", "VIRTUAL_ENV": str(venv),
           "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    return Installed(python, venv / "bin", site, empty, env)


def test_import_wstape_finds_the_installed_wheel_not_the_checkout(installed: Installed) -> None:
    script = (
        "import sys, wstape, wstape.recorder, wstape.analyzer, wstape.demo\n"
        "print(wstape.__version__)\n"
        "for module in (wstape, wstape.recorder, wstape.analyzer, wstape.demo):\n"
        "    print(module.__file__)\n"
        "print(*[repr(finder) for finder in sys.meta_path], sep='\\n')\n"
    )
    result = installed.run(str(installed.python), "-c", script)
    assert result.returncode == 0, result.stderr
    version, *files_and_finders = result.stdout.splitlines()
    files, finders = files_and_finders[:4], files_and_finders[4:]
    assert version == __version__
    assert all(Path(file).is_relative_to(installed.site / "wstape") for file in files), files
    assert not any("editable" in finder.lower() for finder in finders), finders


def test_wstape_help_runs_from_an_empty_folder(installed: Installed) -> None:
    result = installed.run(str(installed.bin / "wstape"), "--help")
    assert result.returncode == 0, result.stderr
    assert "analyze" in result.stdout and "record" in result.stdout


def test_wstape_demo_records_and_judges_from_an_empty_folder(installed: Installed) -> None:
    out = installed.empty / "demo"
    result = installed.run(
        str(installed.bin / "wstape"), "demo", "-o", "demo",
        "--scenario", "good", "--scenario", "missing_event",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 runs: 1 passed, 1 failed" in result.stdout
    opened = [r for r in read_capture(out) if isinstance(r, Open)]
    assert len(opened) == 2


def test_mitmdump_loads_the_installed_addon_file_and_records_a_chat(
    installed: Installed, processes: Processes
) -> None:
    addon = installed.run(str(installed.bin / "wstape"), "record", "--addon-path").stdout.strip()
    assert Path(addon) == installed.site / "wstape" / "recorder" / "addon.py"
    backend_port, port, out = free_port(), free_port(), installed.empty / "script-capture"
    backend = processes.start(
        [str(installed.python), "-m", "wstape.demo.backend", "--host", "127.0.0.1",
         "--port", str(backend_port), "--think-delay", "0.01", "--tool-delay", "0.02"],
        "backend", env=installed.env, cwd=installed.empty,
    )  # fmt: skip
    wait_listening(backend_port, backend)
    # What the mitmdump command of a venv with mitmproxy runs.
    mitmdump = "import sys; from mitmproxy.tools.main import mitmdump; sys.exit(mitmdump())"
    proc = processes.start(
        [str(installed.python), "-c", mitmdump,
         "--mode", f"reverse:http://127.0.0.1:{backend_port}@127.0.0.1:{port}",
         "-s", addon, "--set", f"wstape_dir={out}"],
        "mitmdump", env=installed.env, cwd=installed.empty,
    )  # fmt: skip
    wait_listening(port, proc)
    seen = asyncio.run(
        converse(f"ws://127.0.0.1:{port}/ws?user_id=installed",
                 [{"type": "user_message", "payload": {"content": "hi"}}],
                 done_when=has_event("agent_completed"))
    )  # fmt: skip
    assert stop(proc) == 0
    records = list(read_capture(out))
    assert [r.path for r in records if isinstance(r, Open)] == ["/ws?user_id=installed"]
    received = [r.payload for r in records if isinstance(r, Message) and not r.from_client]
    assert received == [payload for _, payload in seen.received]
