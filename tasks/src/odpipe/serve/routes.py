"""Routes kserve does not serve the way Triton does.

- `/v2/models/<name>/versions/<v>/...` onto the registry key of that version: kserve 0.21 registers the
  versioned routes but answers them 501; each loaded version is registered in kserve's registry as
  `<name>@<v>` (see model.version_key), and this rewrites the path to it.
- `GET /v2/models/<name>[/versions/<v>]/config`: Triton's model configuration (not part of the v2
  protocol, but Triton's clients, Ultralytics' among them, ask for it).
"""

from __future__ import annotations

import re
from typing import Any

_VERSIONED = re.compile(r"^/v2/models/(?P<name>[^/@]+)/versions/(?P<version>[^/]+)(?P<rest>/ready|/infer|/config)?/?$")


class VersionRouteMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            match = _VERSIONED.match(scope["path"])
            if match:
                path = f"/v2/models/{match['name']}@{match['version']}{match['rest'] or ''}"
                scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)


def install_config_route(app: Any, dataplane: Any) -> None:
    @app.get("/v2/models/{model_name}/config")
    async def model_config(model_name: str) -> dict[str, Any]:
        return dict(dataplane.get_model_from_registry(model_name).triton_config())
