"""``python -m fastapi_app [--host H] [--port P]`` (defaults from ``HOST``/``PORT``, else 127.0.0.1:8000)."""

from __future__ import annotations

import argparse
import logging
import os


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Arguments win over ``HOST``/``PORT``/``LOG_LEVEL``, which win over the defaults."""
    parser = argparse.ArgumentParser(prog="python -m fastapi_app", description="Serve the model service.")
    parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL") or "info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run("fastapi_app.main:app", host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
