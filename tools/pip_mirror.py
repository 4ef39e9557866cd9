"""Serve this machine's local pip sources to a container build, over loopback HTTP.

Air-gapped builders often give pip local indexes (`file://` index URLs, `--find-links` folders) that a
container build cannot see. This serves each of them on 127.0.0.1 (the build runs with host
networking) and writes the build arguments that point pip at them, one `NAME=value` per line:

    python tools/pip_mirror.py --port-file F   (serves until killed; writes the args to F when ready)

Only the sources in pip's own configuration (`pip config list`, PIP_* variables) are served.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse


def local_sources() -> tuple[list[Path], list[Path]]:
    """(index folders, find-links folders) that pip is configured with and that exist here."""
    settings: dict[str, str] = {}
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    for line in out.splitlines():
        key, _, value = line.partition("=")
        settings[key.split(".", 1)[-1]] = value.strip().strip("'\"")
    for var, key in (("PIP_EXTRA_INDEX_URL", "extra-index-url"), ("PIP_FIND_LINKS", "find-links")):
        if os.environ.get(var):
            settings[key] = os.environ[var]
    indexes = [
        Path(urlparse(u).path)
        for u in settings.get("extra-index-url", "").split()
        if u.startswith("file://") and Path(urlparse(u).path).is_dir()
    ]
    links = [
        Path(urlparse(u).path if u.startswith("file://") else u)
        for u in settings.get("find-links", "").split()
        if (u.startswith("file://") or u.startswith("/")) and Path(urlparse(u).path).is_dir()
    ]
    return indexes, links


DEFAULT_PORT = 38141  # fixed, so the build arguments (part of the layer cache key) stay the same


class _Mirror(SimpleHTTPRequestHandler):
    """Serves folder N under /N/; nothing else."""

    folders: ClassVar[list[Path]] = []

    def translate_path(self, path: str) -> str:
        head, _, rest = path.lstrip("/").partition("/")
        if not head.isdigit() or int(head) >= len(self.folders):
            return "/nonexistent"
        root = self.folders[int(head)].resolve()
        target = (root / rest.split("?", 1)[0].split("#", 1)[0]).resolve()
        return str(target) if target.is_relative_to(root) else "/nonexistent"

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(folders: list[Path], port: int) -> int:
    """One loopback server for all folders; the fixed port if free, else any (the cache then misses)."""
    handler = type("Mirror", (_Mirror,), {"folders": folders})
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError:
        print(f"pip_mirror: port {port} is taken; using a free one (image layers will not be reused)", file=sys.stderr)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return int(server.server_address[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PIP_MIRROR_PORT", DEFAULT_PORT)))
    args = parser.parse_args()
    indexes, links = local_sources()
    # an index folder is .../simple whose pages link to ../../files: serve its parent
    folders = [p.parent for p in indexes] + links
    port = serve(folders, args.port) if folders else 0
    index_urls = [f"http://127.0.0.1:{port}/{i}/{p.name}" for i, p in enumerate(indexes)]
    link_urls = [f"http://127.0.0.1:{port}/{len(indexes) + i}/" for i in range(len(links))]
    build_args = []
    if index_urls:
        build_args.append(f"PIP_EXTRA_INDEX_URL={' '.join(index_urls)}")
    if link_urls:
        build_args.append(f"PIP_FIND_LINKS={' '.join(link_urls)}")
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text("".join(f"{a}\n" for a in build_args))
    tmp.replace(args.port_file)
    threading.Event().wait()


if __name__ == "__main__":
    main()
