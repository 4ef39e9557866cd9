"""Run inside the test's network namespace (`ip netns exec NS python -m faults.net_worker ...`): start
an S3 server there, move objects through odpipe's Storage (optionally through the proxy), and print
one JSON line per object: {"size", "ok", "seconds", "error"}."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from odpipe.common.errors import StorageError
from odpipe.common.storage import Storage
from odpipe.local.s3server import S3Server

from faults.proxy import Proxy

SIZES = (1 << 10, 256 << 10, 4 << 20)


def _payload(size: int) -> bytes:
    block = hashlib.sha256(str(size).encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--corrupt-download", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, S3Server(Path(tmp) / "s3", buckets=("net",)) as server:
        port = server.ports["s3.port"]
        os.environ.update(server.env())
        proxy = Proxy(port, delay_s=args.delay).start()
        corrupting = Proxy(port, corrupt_at=64 << 10).start() if args.corrupt_download else None
        via = Storage(f"http://127.0.0.1:{proxy.port}")
        for size in SIZES:
            print(json.dumps(_move(via, corrupting, Path(tmp), size)), flush=True)
        proxy.stop()


def _move(storage: Storage, corrupting: Proxy | None, tmp: Path, size: int) -> dict[str, object]:
    src, dest = tmp / f"up-{size}", tmp / f"down-{size}"
    src.write_bytes(_payload(size))
    began = time.monotonic()
    try:
        storage.upload_file(src, "net", f"obj-{size}")
        reader = Storage(f"http://127.0.0.1:{corrupting.port}") if corrupting else storage
        reader.download_file("net", f"obj-{size}", dest)
        ok = dest.read_bytes() == src.read_bytes()
        error = ""
    except StorageError as exc:
        ok, error = False, str(exc)
    leftovers = [p.name for p in tmp.iterdir() if p.name.startswith(f".down-{size}")]
    return {
        "size": size,
        "ok": ok,
        "seconds": round(time.monotonic() - began, 3),
        "error": error,
        "placed": dest.exists(),
        "leftovers": leftovers,
    }


if __name__ == "__main__":
    main()
