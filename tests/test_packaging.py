"""What ``pip install`` puts where: the root builds the library alone (``alerts_lib``, its CLI), ``apps/`` builds
the applications (the model service, the local inbox, the demo) as ``alerts-lib-apps``. Checked on the wheels,
then for real in a fresh virtualenv, from a directory that is not the checkout (so nothing can be imported from
the source tree): the README's commands work from what it says to install, and nothing more comes along.

One venv for the module, with real installs from PyPI (about a minute): the library first, probed, then
``pip install . ./apps`` as the README documents.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.support.demo_run import DemoRun, wait_texts
from tests.support.paths import APPS, REPO_ROOT

WEBHOOK = "https://hooks.slack.com/services/T000/B000/packaging-test-secret"
APPS_MODULES = ("fastapi_app", "inbox", "demo")


def copy_sources(dest: Path) -> Path:
    """What the two distributions are built from, without the build/ or *.egg-info an earlier build left."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    shutil.copytree(REPO_ROOT / "alerts_lib", dest / "alerts_lib", ignore=ignore)
    shutil.copytree(APPS, dest / "apps", ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_sources(tmp_path_factory.mktemp("src"))


@pytest.fixture(scope="module")
def wheels(sources: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, zipfile.ZipFile]:
    """The two wheels, built with this venv's setuptools (no build isolation: nothing downloaded)."""
    out = tmp_path_factory.mktemp("wheels")
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out)]
    subprocess.run([*command, str(sources), str(sources / "apps")], check=True, capture_output=True, timeout=300)
    built = {path.name.split("-")[0]: zipfile.ZipFile(path) for path in out.glob("*.whl")}
    assert set(built) == {"alerts_lib", "alerts_lib_apps"}, sorted(built)
    return built


def top_level(wheel: zipfile.ZipFile) -> set[str]:
    return {name.split("/")[0] for name in wheel.namelist()}


def dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if re.fullmatch(rf"[^/]+\.dist-info/{name}", n)]
    return wheel.read(path).decode()


def requirements(wheel: zipfile.ZipFile) -> set[str]:
    """The unconditional Requires-Dist names (no extra, no environment marker)."""
    lines = re.findall(r"^Requires-Dist: (.+)$", dist_info(wheel, "METADATA"), re.M)
    return {re.split(r"[<>=!~ ;\[]", line)[0].lower().replace("_", "-") for line in lines if ";" not in line}


def test_the_library_wheel_holds_only_alerts_lib(wheels: dict[str, zipfile.ZipFile]) -> None:
    lib = wheels["alerts_lib"]
    assert top_level(lib) == {"alerts_lib", "alerts_lib-0.1.0.dist-info"}
    assert "alerts_lib/py.typed" in lib.namelist(), "type hints are shipped (PEP 561)"
    entry_points = dist_info(lib, "entry_points.txt")
    assert re.search(r"^alerts-lib = alerts_lib.__main__:main$", entry_points, re.M), entry_points
    assert re.search(r"^\[pytest11\]\nalerts_lib = alerts_lib.testing$", entry_points, re.M), entry_points
    needs = requirements(lib)
    assert {"httpx", "pydantic", "pydantic-settings"} <= needs
    assert not needs & {"fastapi", "uvicorn", "prometheus-client", "fastapi-offline"}, "only through extras"


def test_the_apps_wheel_holds_only_the_applications(wheels: dict[str, zipfile.ZipFile]) -> None:
    apps = wheels["alerts_lib_apps"]
    assert top_level(apps) == {*APPS_MODULES, "alerts_lib_apps-0.1.0.dist-info"}
    names = apps.namelist()
    for static in ("index.html", "inbox.js", "inbox.css", "teams.js"):
        assert f"inbox/static/{static}" in names, "the inbox page ships with the inbox"
    assert {"alerts-lib", "fastapi", "uvicorn", "fastapi-offline", "prometheus-client"} <= requirements(apps)


@dataclass
class Venv:
    """A fresh virtualenv; commands run in ``cwd``, outside the checkout, with none of this shell's settings."""

    root: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    library_only: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)

    @property
    def python(self) -> str:
        return str(self.root / "bin" / "python")

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def pip_install(self, *args: str, cwd: Path) -> None:
        done = subprocess.run(
            [self.python, "-m", "pip", "install", "-q", *args], cwd=cwd, env=self.env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def fresh(sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """``pip install .`` into a new venv, probed right away (what later tests read), before the apps arrive."""
    base = tmp_path_factory.mktemp("fresh")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALERTS_", "PYTHON", "VIRTUAL_ENV"))}
    env["SLACK_WEBHOOK_URL"] = WEBHOOK
    (base / "work").mkdir()
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    fresh = Venv(env_dir, base / "work", env)
    fresh.pip_install(".", cwd=sources)  # the README's "Using the library"
    probes = {
        "check": (fresh.python, "-m", "alerts_lib", "check"),
        "console script": (str(env_dir / "bin" / "alerts-lib"), "check"),
        **{f"import {m}": (fresh.python, "-c", f"import {m}") for m in (*APPS_MODULES, "fastapi", "uvicorn")},
    }
    fresh.library_only = {name: fresh.run(*command) for name, command in probes.items()}
    return fresh


@pytest.fixture(scope="module")
def with_apps(fresh: Venv, sources: Path) -> Venv:
    fresh.pip_install(".", "./apps", cwd=sources)  # the README's service, inbox and demo sections
    return fresh


@pytest.mark.parametrize("probe", ["check", "console script"])
def test_the_library_alone_runs_its_cli(fresh: Venv, probe: str) -> None:
    done = fresh.library_only[probe]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ready: alerts go to https://hooks.slack.com/services/T…/B…/****" in done.stdout
    assert "packaging-test-secret" not in done.stdout + done.stderr


@pytest.mark.parametrize("module", [*APPS_MODULES, "fastapi", "uvicorn"])
def test_the_library_alone_installs_no_application_and_no_web_framework(fresh: Venv, module: str) -> None:
    done = fresh.library_only[f"import {module}"]
    assert done.returncode == 1 and f"ModuleNotFoundError: No module named '{module}'" in done.stderr, done


@pytest.mark.parametrize("module", ["inbox", "fastapi_app", "demo"])
def test_the_apps_commands_start_from_a_plain_install(with_apps: Venv, module: str) -> None:
    done = with_apps.run(with_apps.python, "-m", module, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m {module}")


@pytest.fixture
def demo(with_apps: Venv) -> Iterator[DemoRun]:
    env = {k: v for k, v in with_apps.env.items() if k != "SLACK_WEBHOOK_URL"}
    run = DemoRun([], python=with_apps.python, cwd=with_apps.cwd, env=env)
    try:
        yield run
    finally:
        run.kill()


def test_the_demo_runs_from_a_plain_install(demo: DemoRun) -> None:
    """The whole demo from site-packages: the inbox (with its page), the service (with its offline /docs),
    the watch (the library's CLI), and the alerts between them."""
    inbox, service = demo.urls()
    demo.wait_line("Startup alerts sent")
    assert "inbox.js" in requests.get(inbox + "/", timeout=5).text
    docs = requests.get(service + "/docs", timeout=5).text
    assert "swagger-ui" in docs and "cdn.jsdelivr.net" not in docs
    expected = ("[FastAPI] started: my_model@A, my_model@B", "watch started: 1 service (model)")
    texts = wait_texts(inbox, expected, timeout=30)
    assert all(any(e in t for t in texts) for e in expected), texts
    assert demo.interrupt() == 0, "\n".join(demo.lines)
    assert "Stopped." in demo.lines, "\n".join(demo.lines)
