"""``python -m demo.seed``: give an empty registry its first versions (compose runs it before the service).

Idempotent: a registry that already has versions of the model (a restart, or versions Airflow published)
is left as it is. Reads ``MODEL_REGISTRY_DIR``, ``MODEL_NAME`` and ``MODEL_ALIASES`` like the service.
"""

from __future__ import annotations

import logging
import os

from fastapi_app.registry import FileRegistry
from fastapi_app.seed import seed_registry

log = logging.getLogger("demo.seed")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = os.environ.get("MODEL_REGISTRY_DIR") or "./model_registry"
    model = os.environ.get("MODEL_NAME") or "my_model"
    aliases = [a.strip() for a in (os.environ.get("MODEL_ALIASES") or "A,B").split(",") if a.strip()]
    if FileRegistry(root).list_versions(model):
        log.info("registry already has versions of %s: left as it is", model)
        return
    seeded = seed_registry(root, model, aliases)
    log.info("seeded %s: %s", model, ", ".join(f"{model}@{a} → v{v.version}" for a, v in seeded.items()))


if __name__ == "__main__":
    main()
