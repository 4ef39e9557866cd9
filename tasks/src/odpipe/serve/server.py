"""Put the pieces together: kserve's REST app with odpipe's data plane and middlewares, uvicorn on
--host/--port, the repository poller beside it, and a graceful stop on SIGTERM."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import shutil
import signal
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.model_repository import ModelRepository as Registry
from kserve.protocol.rest.server import RESTServer

from odpipe.common.storage import Buckets, Storage
from odpipe.export.repository import ModelRepository, check_name
from odpipe.serve import errors
from odpipe.serve.dataplane import PolledRepositoryExtension, ServingDataPlane
from odpipe.serve.detector import Thresholds
from odpipe.serve.limits import BodyLimitMiddleware, ConcurrencyLimitMiddleware
from odpipe.serve.metrics import MetricsMiddleware
from odpipe.serve.policy import VersionPolicy
from odpipe.serve.routes import VersionRouteMiddleware, install_config_route
from odpipe.serve.watcher import RepositoryWatcher, WatcherOptions

log = logging.getLogger("odpipe.serve")


@dataclass
class ServeOptions:
    names: list[str]
    host: str = "0.0.0.0"
    port: int = 8080
    policy: VersionPolicy = field(default_factory=VersionPolicy)
    poll_interval: float = 30.0
    max_batch: int = 8
    max_body_bytes: int = 32 * 1024 * 1024
    max_concurrency: int = 8
    max_queue: int = 64
    grace_period: int = 30
    threads: int | None = None
    default: Thresholds = field(default_factory=Thresholds)
    bucket: str | None = None


class _Server(uvicorn.Server):
    """uvicorn's server, which also tells readiness it is draining as soon as a signal arrives."""

    draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.draining:
            log.info("signal %d: no new connections; draining requests in flight (up to the grace period)", sig)
        self.draining = True
        super().handle_exit(sig, frame)


def configure_logging(level: str) -> None:
    # kserve 0.21 still answers with ORJSONResponse, which FastAPI deprecates: not this server's news.
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("odpipe").setLevel(level.upper())
    # kserve logs request timings at info on "kserve.trace": one line per request, debug level only here.
    debug = level.upper() == "DEBUG"
    logging.getLogger("kserve.trace").setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("kserve").setLevel(logging.INFO if not debug else logging.DEBUG)


def build(options: ServeOptions, storage: Storage | None = None) -> tuple[Any, RepositoryWatcher, _Server]:
    for name in options.names:
        check_name(name)
    storage = storage or Storage()
    bucket = options.bucket or Buckets.from_env().models
    storage.require_bucket(bucket)
    parent = os.environ.get("ODPIPE_SCRATCH")
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="odpipe-serve-", dir=parent or None))
    registry = Registry()
    watcher = RepositoryWatcher(
        ModelRepository(storage, bucket),
        registry,
        WatcherOptions(options.names, options.policy, options.max_batch, options.default, options.threads),
        scratch,
    )
    holder: dict[str, _Server] = {}
    dataplane = ServingDataPlane(registry, lambda: watcher.ready() and not holder["server"].draining)
    rest = RESTServer(
        FASTAPI_APP_IMPORT_STRING,
        dataplane,
        PolledRepositoryExtension(registry),
        options.port,
        grace_period=options.grace_period,
    )
    rest.create_application()
    from kserve.model_server import app

    errors.install(app)
    install_config_route(app, dataplane)

    # Starlette wraps later additions around earlier ones: metrics outermost, sees every answer.
    app.add_middleware(VersionRouteMiddleware)
    app.add_middleware(ConcurrencyLimitMiddleware, max_concurrency=options.max_concurrency, max_queue=options.max_queue)
    app.add_middleware(BodyLimitMiddleware, max_bytes=options.max_body_bytes)
    app.add_middleware(MetricsMiddleware, known=set(options.names))
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=options.grace_period,
        timeout_keep_alive=65,
    )
    server = _Server(config)
    holder["server"] = server
    return app, watcher, server


async def _poll_forever(watcher: RepositoryWatcher, interval: float) -> None:
    while True:
        try:
            await asyncio.to_thread(watcher.poll)
        except Exception:  # a poll must never take the server down
            log.exception("repository poll failed")
        await asyncio.sleep(interval)


async def serve_until_stopped(options: ServeOptions, storage: Storage | None = None) -> None:
    _, watcher, server = build(options, storage)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=options.max_concurrency + 2))
    log.info(
        "serving %s (%s) from s3://%s on http://%s:%d, polling every %gs",
        ", ".join(options.names),
        options.policy.describe(),
        watcher.repository.bucket,
        options.host,
        options.port,
        options.poll_interval,
    )
    poller = asyncio.create_task(_poll_forever(watcher, options.poll_interval))
    # uvicorn re-raises the signal it caught once it has drained; this handler lets the process end with 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        await server.serve()
    finally:
        poller.cancel()
        shutil.rmtree(watcher.scratch, ignore_errors=True)  # the loaded versions' files
    log.info("stopped")
