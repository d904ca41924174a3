"""Create, or bring up to date, the virtualenv with a real Apache Airflow that the Airflow tests drive.

Airflow pins its own FastAPI (< 0.137), so it cannot share the service's virtualenv. This script makes
``.venv-airflow`` with ``apache-airflow==3.3.2`` and this project installed into it (as users install it, so
its ``airflow.plugins`` entry point is found), and reinstalls the project only when its sources changed, so a
second run takes well under a second. Another version gets its own venv, ``.venv-airflow-<version>``.

    python scripts/airflow_venv.py                              # prints the venv's path
    AIRFLOW_VERSION_PIN=2.10.5 python scripts/airflow_venv.py   # .venv-airflow-2.10.5
    AIRFLOW_VENV=/tmp/af python scripts/airflow_venv.py --airflow-version 2.10.5

Stdlib only: it runs before anything else is installed (CI calls it through the tests).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VENV = REPO / ".venv-airflow"
AIRFLOW_VERSION = "3.3.2"
# The two distributions installed (the library; apps/, for the DAGs' fastapi_app.registry): what ends up in
# their wheels (see each pyproject's packages) decides whether to reinstall.
PROJECTS = (".", "apps")
PACKAGES = ("alerts_lib", "apps/fastapi_app", "apps/inbox", "apps/demo")
STAMP = "alerts_lib-install.sha256"
COPY_IGNORE = (".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "model_registry")

log = logging.getLogger("airflow_venv")


def source_digest(airflow_version: str) -> str:
    """A hash of everything the installed copy of the project is built from."""
    digest = hashlib.sha256(f"airflow=={airflow_version}\n".encode())
    files = [REPO / project / "pyproject.toml" for project in PROJECTS]
    for package in PACKAGES:
        files += sorted(p for p in (REPO / package).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def installed_airflow(python: Path) -> str | None:
    probe = "import importlib.metadata as m; print(m.version('apache-airflow'))"
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)  # noqa: S603
    return result.stdout.strip() if result.returncode == 0 else None


def pip(python: Path, *args: str) -> None:
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args]
    log.info("running %s", " ".join(command))
    subprocess.run(command, check=True)  # noqa: S603 - our own venv's pip


def ensure(venv_dir: Path, airflow_version: str = AIRFLOW_VERSION) -> Path:
    """The venv at ``venv_dir`` with Airflow and the current project installed; returns its python."""
    python = venv_dir / "bin" / "python"
    if not python.exists():
        log.info("creating %s", venv_dir)
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    if installed_airflow(python) != airflow_version:
        pip(python, f"apache-airflow=={airflow_version}")
    stamp = venv_dir / STAMP
    digest = source_digest(airflow_version)
    if not stamp.exists() or stamp.read_text().strip() != digest:
        with tempfile.TemporaryDirectory(prefix="alerts_lib-src-") as tmp:
            # Built from a clean copy: an in-tree build/ could carry stale modules into the wheel.
            source = Path(tmp) / "src"
            shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*COPY_IGNORE))
            projects = [str(source / project) for project in PROJECTS]
            # Their dependencies (httpx, pydantic-settings, the apps' fastapi, …), Airflow pinned in the same
            # command so pip cannot move Airflow's own pins (FastAPI) to satisfy them.
            pip(python, f"apache-airflow=={airflow_version}", *projects)
            pip(python, "--no-deps", "--force-reinstall", *projects)  # this tree, even at the same version
        stamp.write_text(digest + "\n")
    return python


def default_venv(airflow_version: str) -> Path:
    """``.venv-airflow`` for the default version, ``.venv-airflow-<version>`` for another: both can coexist."""
    return DEFAULT_VENV if airflow_version == AIRFLOW_VERSION else REPO / f".venv-airflow-{airflow_version}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=os.environ.get("AIRFLOW_VENV") or None)
    parser.add_argument("--airflow-version", default=os.environ.get("AIRFLOW_VERSION_PIN") or AIRFLOW_VERSION)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="airflow_venv: %(message)s", stream=sys.stderr)
    venv_dir = Path(args.venv) if args.venv else default_venv(args.airflow_version)
    python = ensure(venv_dir.resolve(), args.airflow_version)
    sys.stdout.write(f"{python.parent.parent}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
