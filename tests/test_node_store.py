"""The node's image store tidied on a real containerd (Debian's, the one `make cluster` runs), started
here with a store of its own: a rebuilt image's previous build, the layer blobs of unpacked images and
what a killed import left are gone, and the image that stays still runs from its snapshot."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from e2e.cluster import images, store

needs_containerd = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("containerd", "ctr", "runc")),
    reason="needs root and containerd, ctr and runc (Debian's containerd package, as `make cluster` does)",
)
REF = "odpipe.test/tidy:1.0"


@pytest.fixture
def containerd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "state"
    sock = tmp_path / "c.sock"
    config = tmp_path / "containerd.toml"
    config.write_text(
        f'version = 2\nroot = "{root / "containerd" / "root"}"\nstate = "{tmp_path / "run"}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{tmp_path / "ttrpc.sock"}"\n'
    )
    log = (tmp_path / "containerd.log").open("w")
    proc = subprocess.Popen(["containerd", f"--config={config}"], stdout=log, stderr=subprocess.STDOUT)
    monkeypatch.setattr(store, "CONTAINERD_SOCK", sock)
    monkeypatch.setattr(store, "state", lambda *parts: root.joinpath(*parts))
    monkeypatch.setattr(images, "CACHE", tmp_path / "cache")
    try:
        deadline = time.monotonic() + 30
        while store.ctr("version", check=False).returncode:
            assert time.monotonic() < deadline, (tmp_path / "containerd.log").read_text()[-2000:]
            time.sleep(0.1)
        yield root
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        subprocess.run(["umount", "-R", str(tmp_path / "run")], capture_output=True, check=False)


def _import(build: str) -> str:
    """Import a build of REF and name it as the CRI plugin does (`sha256:<config>`); its manifest."""
    spec = images.ImageSpec(REF, {}, ["/bin/cat"], busybox=True, texts={"/build": (build, 0o644)})
    store.ctr("images", "import", "--snapshotter", store.SNAPSHOTTER, str(images.write_archive(spec)))
    manifest = store.image_targets(store.ctr("images", "ls").stdout)[REF]
    config = json.loads(store.ctr("content", "get", manifest).stdout)["config"]["digest"]
    store.ctr("images", "tag", "--force", REF, config)
    return manifest


def _layers(manifest: str) -> list[str]:
    return [layer["digest"] for layer in json.loads(store.ctr("content", "get", manifest).stdout)["layers"]]


def _blobs() -> set[str]:
    return set(store.content_labels(store.ctr("content", "ls").stdout))


def _killed_import() -> None:
    """What a full disk or a killed `make images` leaves: a lease and a partial blob."""
    store.ctr("leases", "create")
    ingest = subprocess.Popen(
        ["ctr", "--address", str(store.CONTAINERD_SOCK), "-n", "k8s.io", "content", "ingest", "partial-layer"],
        stdin=subprocess.PIPE,
    )
    assert ingest.stdin is not None
    ingest.stdin.write(b"x" * 65536)
    ingest.stdin.flush()
    deadline = time.monotonic() + 10
    while "partial-layer" not in store.ctr("content", "active").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ingest.send_signal(signal.SIGKILL)
    ingest.wait()


@needs_containerd
def test_tidy_leaves_only_what_the_tagged_image_runs_from(containerd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "LEASE_AGE_S", -60.0)  # the killed import below is seconds old, not minutes
    first = _import("first build\n")
    second = _import("second build\n")
    assert first != second
    _killed_import()
    names = store.image_targets(store.ctr("images", "ls").stdout)
    assert store.replaced_images(names) == [n for n, d in names.items() if d == first]
    layers = set(_layers(first) + _layers(second))
    assert layers <= _blobs()

    done = store.tidy()

    assert (done.replaced, done.discarded) == (1, 1) and done.abandoned >= 1, done
    names = store.image_targets(store.ctr("images", "ls").stdout)
    assert set(names.values()) == {second} and len(names) == 2
    left = _blobs()
    assert second in left and first not in left and not layers & left
    assert store.ctr("leases", "ls").stdout.strip().splitlines()[1:] == []
    assert "partial-layer" not in store.ctr("content", "active").stdout
    ran = store.ctr("run", "--rm", "--snapshotter", store.SNAPSHOTTER, REF, "tidy-check", "/bin/cat", "/build")
    assert ran.stdout == "second build\n"

    # a later import of the same layers (every `docker save` import writes them again) unpacks onto the
    # snapshot that is there, and is tidied the same way
    assert _import("second build\n") == second
    assert set(_layers(second)) <= _blobs()
    assert store.tidy().discarded == 1 and not set(_layers(second)) & _blobs()
    assert str(store.tidy()).startswith("node image store: nothing to drop")


@needs_containerd
def test_tidy_keeps_the_blobs_of_an_image_that_is_not_unpacked(containerd: Path) -> None:
    spec = images.ImageSpec(REF, {}, ["/bin/cat"], texts={"/build": ("packed\n", 0o644)})
    store.ctr("images", "import", "--no-unpack", str(images.write_archive(spec)))
    manifest = store.image_targets(store.ctr("images", "ls").stdout)[REF]
    assert store.tidy().discarded == 0
    assert set(_layers(manifest)) <= _blobs()


def test_chain_id_names_the_snapshot_of_a_real_image() -> None:
    # the first two diff IDs of the export-deploy image, and the snapshot the cluster's containerd unpacked
    # them to (`ctr snapshots ls`: its parent is the first layer's)
    diffs = [
        "sha256:8543bd158a4384ec50b2e7fd7e4ab8de5f09754d09949349952d365e6bb36a87",
        "sha256:7911caa560a65105184fe103cc56225a8d56cc62721c8a4457fd4435f53ceda5",
    ]
    assert store.chain_id(diffs[:1]) == diffs[0]
    assert store.chain_id(diffs) == "sha256:485572425b3bfb0f38acd6f7650b75f882209da8dd9c494c26d17a2b949e2553"


def test_only_a_lease_older_than_a_call_is_a_killed_imports() -> None:
    listing = (
        "ID             CREATED AT           LABELS\n"
        "668825465-Ww44 2026-12-04T14:07:47Z containerd.io/gc.expire=2026-12-05T14:07:47Z\n"
        "38035530-XUrJ  2026-12-04T16:15:34Z containerd.io/gc.expire=2026-12-05T16:15:34Z\n"
    )
    now = datetime(2026, 12, 4, 16, 15, 40, tzinfo=UTC).timestamp()
    assert store.abandoned_leases(listing, now) == ["668825465-Ww44"]
    assert store.abandoned_leases(listing.splitlines()[0], now) == []
