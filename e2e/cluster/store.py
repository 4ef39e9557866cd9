"""The node's image store (its containerd), held to what the cluster runs.

Left alone, it grows by the size of each rebuilt task image, on the disk that the next build needs:
- the CRI plugin names every image it has seen `sha256:<config>` too, and that name outlives the tag:
  a rebuilt train image left the previous build behind;
- every layer is kept twice, as the blob imported and as the snapshot unpacked from it (containerd's
  `discard_unpacked_layers` does what `_discard_layers` does here, for pulled images only);
- an import that failed (a full disk) leaves its partial blob, and the lease `ctr` took keeps what it
  wrote for 24 hours.

`tidy` drops all of these and has containerd collect them at once. Images are only ever added here by
`images.py`'s imports (never pulled: the node has no registry to pull from), under one lock, so any
ingest found while the lock is held, and any lease older than a call lasts, belongs to an import that
died."""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from .layout import CONTAINERD_SOCK, state

LAYER_LABEL = "containerd.io/gc.ref.content.l."
MANIFEST_LABEL = "containerd.io/gc.ref.content.m."
CONFIG_LABEL = "containerd.io/gc.ref.content.config"
SNAPSHOTTER = "overlayfs"
LEASE_AGE_S = 600.0


def ctr(*args: str, stdin: object = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ctr", "--address", str(CONTAINERD_SOCK), "--namespace", "k8s.io", *args],
        stdin=stdin,  # type: ignore[arg-type]
        capture_output=True,
        text=True,
        check=check,
    )


@contextmanager
def exclusive() -> Iterator[None]:
    """One import or tidy at a time (two `make images` in two shells load into the same node)."""
    lock = state("imported", ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


def image_targets(images_ls: str) -> dict[str, str]:
    """`ctr images ls` -> {name: target digest}."""
    targets = {}
    for line in images_ls.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 3 and cols[2].startswith("sha256:"):
            targets[cols[0]] = cols[2]
    return targets


def replaced_images(targets: dict[str, str]) -> list[str]:
    """The `sha256:<config>` names whose image no tag points at any more: builds a tag moved off."""
    tagged = {digest for name, digest in targets.items() if not name.startswith("sha256:")}
    return sorted(name for name, digest in targets.items() if name.startswith("sha256:") and digest not in tagged)


def content_labels(content_ls: str) -> dict[str, dict[str, str]]:
    """`ctr content ls` -> {digest: labels}."""
    blobs: dict[str, dict[str, str]] = {}
    for line in content_ls.splitlines()[1:]:
        cols = line.split("\t")
        if not cols[0].startswith("sha256:"):
            continue
        labels = cols[-1].strip() if len(cols) > 3 else ""
        blobs[cols[0]] = dict(pair.split("=", 1) for pair in labels.split(",") if "=" in pair)
    return blobs


def manifests(targets: dict[str, str], blobs: dict[str, dict[str, str]]) -> set[str]:
    """The image manifests behind the targets (an index's manifests in its place)."""
    found = set()
    for digest in set(targets.values()):
        children = [v for k, v in blobs.get(digest, {}).items() if k.startswith(MANIFEST_LABEL)]
        found.update(children or [digest])
    return found


def chain_id(diff_ids: list[str]) -> str:
    """The name of the snapshot a fully unpacked image's top layer gets (OCI image spec's ChainID)."""
    chain = diff_ids[0]
    for diff in diff_ids[1:]:
        chain = "sha256:" + hashlib.sha256(f"{chain} {diff}".encode()).hexdigest()
    return chain


def committed_snapshots(snapshots_ls: str) -> set[str]:
    return {cols[0] for cols in (line.split() for line in snapshots_ls.splitlines()[1:]) if cols[-1:] == ["Committed"]}


@dataclass
class Tidied:
    replaced: int = 0
    abandoned: int = 0
    discarded: int = 0
    freed_bytes: int = 0

    def __str__(self) -> str:
        done = [
            f"{self.replaced} replaced build(s) removed" if self.replaced else "",
            f"{self.abandoned} abandoned import(s) dropped" if self.abandoned else "",
            f"layer blobs of {self.discarded} unpacked image(s) discarded" if self.discarded else "",
        ]
        said = ", ".join(d for d in done if d) or "nothing to drop"
        return f"node image store: {said}, {self.freed_bytes / 2**30:.1f} GiB freed"


def tidy() -> Tidied:
    with exclusive():
        return tidy_held()


def tidy_held() -> Tidied:
    """`tidy` for a caller that holds `exclusive()` already."""
    free_before = shutil.disk_usage(state()).free
    done = Tidied(abandoned=_drop_abandoned_imports())
    targets = image_targets(ctr("images", "ls").stdout)
    replaced = replaced_images(targets)
    if replaced:
        ctr("images", "rm", *replaced)
        done.replaced = len(replaced)
    for name in replaced:
        targets.pop(name)
    done.discarded = _discard_layers(targets)
    _collect()
    done.freed_bytes = max(0, shutil.disk_usage(state()).free - free_before)
    return done


def _drop_abandoned_imports() -> int:
    ingests = state("containerd", "root", "io.containerd.content.v1.content", "ingest")
    partial = [d for d in ingests.iterdir() if d.is_dir()] if ingests.is_dir() else []
    for d in partial:
        shutil.rmtree(d, ignore_errors=True)
    leases = abandoned_leases(ctr("leases", "ls").stdout, time.time())
    if leases:
        ctr("leases", "rm", *leases, check=False)
    return max(len(partial), len(leases))


def abandoned_leases(leases_ls: str, now: float) -> list[str]:
    """`ctr leases ls` -> the leases older than LEASE_AGE_S. A lease lives as long as the call that took
    it: an import of ours (none runs while the lock is held) or the kubelet's container creation, for
    a moment; an old one is a killed import's."""
    old = []
    for line in leases_ls.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 2:
            created = datetime.fromisoformat(cols[1].replace("Z", "+00:00")).timestamp()
            if now - created > LEASE_AGE_S:
                old.append(cols[0])
    return old


def _discard_layers(targets: dict[str, str]) -> int:
    """Drop the manifests' references to their layer blobs where the image is unpacked: what a
    container starts from is the snapshot (a later import of the same layers writes them again, as an
    import from `docker save` always does, and finds the snapshot there)."""
    blobs = content_labels(ctr("content", "ls").stdout)
    unpacked = committed_snapshots(ctr("snapshots", "--snapshotter", SNAPSHOTTER, "ls").stdout)
    count = 0
    for manifest in sorted(manifests(targets, blobs)):
        labels = blobs.get(manifest, {})
        layers = sorted(k for k in labels if k.startswith(LAYER_LABEL))
        if not layers or CONFIG_LABEL not in labels:
            continue
        config = json.loads(ctr("content", "get", labels[CONFIG_LABEL]).stdout)
        if chain_id(config["rootfs"]["diff_ids"]) not in unpacked:
            continue  # not unpacked (imported with --no-unpack): its blobs are all it has
        ctr("content", "label", manifest, *(f"{k}=" for k in layers))
        count += 1
    return count


def _collect() -> None:
    """Run containerd's garbage collection now: removing a lease with --sync does, and this one holds
    nothing."""
    lease = ctr("leases", "create").stdout.split()[0]
    ctr("leases", "rm", "--sync", lease)


def usage() -> str:
    """What the store takes on disk: the unpacked snapshots and the blobs (which tidy keeps near zero)."""
    root = state("containerd", "root")
    sizes = []
    folders = {"snapshots": f"io.containerd.snapshotter.v1.{SNAPSHOTTER}", "blobs": "io.containerd.content.v1.content"}
    for label, folder in folders.items():
        du = subprocess.run(["du", "-sb", str(root / folder)], capture_output=True, text=True, check=False)
        size = int(du.stdout.split()[0]) if du.returncode == 0 and du.stdout else 0
        sizes.append(f"{label} {size / 2**30:.1f} GiB")
    return "node image store: " + ", ".join(sizes)
