"""The serve step: run(options), as every step; it returns when the server stops (SIGTERM, SIGINT)."""

from __future__ import annotations

import asyncio

from odpipe.serve.server import ServeOptions, serve_until_stopped


def run(options: ServeOptions) -> None:
    asyncio.run(serve_until_stopped(options))
