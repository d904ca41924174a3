"""List the values keys the official Apache Airflow Helm chart documents, for tests/test_helm.py.

    python scripts/airflow_chart_keys.py airflow-1.22.0.tgz > tests/data/airflow-chart-keys.txt

The chart archive (from the chart's Helm repository) holds ``values.schema.json``: every documented key is a
``properties`` entry there. This prints one dotted path per documented key; ``path.*`` marks a key whose
schema explicitly accepts any further key below it (a subchart's values, free-form maps). Keys are paths only:
nothing of the schema's text is copied.
"""

from __future__ import annotations

import json
import sys
import tarfile
from collections.abc import Iterator
from typing import Any


def documented_keys(schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every ``properties`` key below ``schema``, depth first."""
    if schema.get("additionalProperties") is True and prefix:
        yield f"{prefix}.*"
    for key, sub in sorted(schema.get("properties", {}).items()):
        path = f"{prefix}.{key}" if prefix else key
        yield path
        yield from documented_keys(sub, path)


def chart_schema(archive: str) -> tuple[dict[str, Any], str]:
    """``values.schema.json`` and the chart version from a packaged chart (``airflow-X.Y.Z.tgz``)."""
    with tarfile.open(archive) as tar:
        schema = json.load(tar.extractfile("airflow/values.schema.json"))  # type: ignore[arg-type]
        chart = tar.extractfile("airflow/Chart.yaml").read().decode()  # type: ignore[union-attr]
    version = next(line.split(":", 1)[1].strip() for line in chart.splitlines() if line.startswith("version:"))
    return schema, version


def main(argv: list[str]) -> int:
    schema, version = chart_schema(argv[0])
    out = sys.stdout
    out.write(
        f"# Values keys documented by the official Apache Airflow Helm chart {version} (values.schema.json).\n"
        "# Key names only, extracted by scripts/airflow_chart_keys.py. The chart is (c) The Apache Software\n"
        "# Foundation, licensed under the Apache License, Version 2.0: https://www.apache.org/licenses/LICENSE-2.0\n"
        f"# chart-version: {version}\n"
    )
    for path in documented_keys(schema):
        out.write(path + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
