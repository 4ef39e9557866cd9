"""The cluster's container images, made from the built static binaries without a registry or a
Docker daemon: one layer each (plus busybox where a chart runs a shell), written as a docker-archive
tarball into the cache and imported into the node's containerd (namespace k8s.io), tagged exactly as
the manifests and charts name them. The odpipe task images (`make images`) are loaded from Docker."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import components as c
from . import store
from .layout import CACHE, REPO, state
from .store import ctr

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static: the shell the MinIO chart's scripts need
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


@dataclass(frozen=True)
class ImageSpec:
    ref: str
    #: path in the image -> (file on this machine, mode)
    files: dict[str, tuple[Path, int]]
    entrypoint: list[str]
    cmd: list[str] = field(default_factory=list)
    user: str = ""
    env: tuple[str, ...] = ("PATH=/usr/local/bin:/usr/bin:/bin",)
    busybox: bool = False
    texts: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def archive(self) -> Path:
        key = hashlib.sha256(json.dumps(self._identity(), sort_keys=True).encode()).hexdigest()[:16]
        return CACHE / "images" / f"{self.ref.replace('/', '_').replace(':', '_')}-{key}.tar"

    def _identity(self) -> dict[str, object]:
        return {
            "ref": self.ref,
            "files": {k: [str(p), m, p.stat().st_mtime_ns if p.exists() else 0] for k, (p, m) in self.files.items()},
            "entrypoint": self.entrypoint,
            "cmd": self.cmd,
            "user": self.user,
            "env": self.env,
            "busybox": self.busybox,
            "texts": self.texts,
        }


def _busybox_applets() -> list[str]:
    out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True)
    return [a for a in out.stdout.split() if a and a != "busybox"]


def _layer(spec: ImageSpec) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()

        def add_dir(path: str, mode: int = 0o755) -> None:
            parts = path.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d and d not in made:
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, (mode if i == len(parts) else 0o755)
                    tar.addfile(info)
                    made.add(d)

        add_dir("tmp", 0o1777)
        add_dir("etc")
        for name, body in (
            ("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"),
            ("etc/group", "root:x:0:\nnobody:x:65534:\n"),
        ):
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        files = dict(spec.files)
        if spec.busybox:
            files["/bin/busybox"] = (BUSYBOX, 0o755)
        for dest, (src, mode) in sorted(files.items()):
            add_dir(str(Path(dest).parent))
            info = tarfile.TarInfo(dest.lstrip("/"))
            info.size, info.mode = src.stat().st_size, mode
            with src.open("rb") as fh:
                tar.addfile(info, fh)
        for dest, (text, mode) in sorted(spec.texts.items()):
            add_dir(str(Path(dest).parent))
            data = text.encode()
            info = tarfile.TarInfo(dest.lstrip("/"))
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        if spec.busybox:
            for applet in _busybox_applets():
                link = f"bin/{applet}"
                if link.lstrip("/") in {d.lstrip("/") for d in files}:
                    continue
                info = tarfile.TarInfo(link)
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
    return buf.getvalue()


def write_archive(spec: ImageSpec) -> Path:
    """The image as a docker-archive tarball (manifest.json, config, one layer), cached by content."""
    if spec.archive.exists():
        return spec.archive
    layer = _layer(spec)
    layer_id = hashlib.sha256(layer).hexdigest()
    config: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": spec.entrypoint, "Cmd": spec.cmd or None, "Env": list(spec.env), "User": spec.user},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "odpipe e2e/cluster/images.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [spec.ref], "Layers": [f"{layer_id}/layer.tar"]}])
    spec.archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = spec.archive.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for name, data in (
            (config_name, config_bytes),
            (f"{layer_id}/layer.tar", layer),
            ("manifest.json", manifest.encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    tmp.rename(spec.archive)
    return spec.archive


MINIO_ENTRYPOINT = """#!/bin/sh
# The MinIO chart starts `/usr/bin/docker-entrypoint.sh minio server ...`: run what it is given.
if [ "${1}" != "minio" ] && [ -n "${1}" ]; then set -- minio "$@"; fi
exec "$@"
"""


def _one_binary(ref: str, path: str, binary: Path, user: str) -> ImageSpec:
    """An image of one static binary, on PATH, as its entrypoint."""
    return ImageSpec(ref, {path: (binary, 0o755)}, [Path(path).name if path.startswith("/bin/") else path], user=user)


def cluster_images() -> list[ImageSpec]:
    """Every image the cluster, Argo's manifests and the charts reference, from the built binaries."""
    argo_v, k8s_v, dns_v = c.ARGO.version, c.KUBERNETES.version, c.COREDNS.version
    argo = "quay.io/argoproj"
    return [
        _one_binary(PAUSE_IMAGE, "/pause", c.PAUSE.binary("pause"), "65535"),
        *(
            _one_binary(f"{argo}/{image}:{argo_v}", f"/bin/{binary}", c.ARGO.binary(binary), "8737")
            for image, binary in (
                ("workflow-controller", "workflow-controller"),
                ("argoexec", "argoexec"),
                ("argocli", "argo"),
            )
        ),
        ImageSpec(
            f"quay.io/minio/minio:{c.minio_release(c.MINIO.version)}",
            {"/usr/bin/minio": (c.MINIO.binary("minio"), 0o755)},
            ["/usr/bin/docker-entrypoint.sh"],
            cmd=["minio"],
            busybox=True,
            texts={"/usr/bin/docker-entrypoint.sh": (MINIO_ENTRYPOINT, 0o755)},
        ),
        ImageSpec(
            f"quay.io/minio/mc:{c.minio_release(c.MC.version)}",
            {"/usr/bin/mc": (c.MC.binary("mc"), 0o755)},
            ["mc"],
            busybox=True,
        ),
        _one_binary(f"registry.k8s.io/coredns/coredns:{dns_v}", "/coredns", c.COREDNS.binary("coredns"), "65532"),
        _one_binary(f"registry.k8s.io/kubectl:{k8s_v}", "/bin/kubectl", c.KUBERNETES.binary("kubectl"), "65532"),
    ]


def _marker(ref: str) -> Path:
    return state("imported", ref.replace("/", "_").replace(":", "_"))


def _record(ref: str, identity: str) -> None:
    marker = _marker(ref)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(identity)


def _already_imported(ref: str, identity: str) -> bool:
    """containerd holds `ref`, and it is the build whose identity the marker recorded."""
    marker = _marker(ref)
    return (
        marker.exists()
        and marker.read_text() == identity
        and bool(ctr("images", "ls", "-q", f"name=={ref}").stdout.strip())
    )


def import_archive(ref: str, archive: Path, identity: str) -> bool:
    """Import unless containerd already holds this exact build (its marker names the archive)."""
    with store.exclusive():
        if _already_imported(ref, identity):
            return False
        ctr("images", "import", "--snapshotter", store.SNAPSHOTTER, str(archive))
        _record(ref, identity)
        return True


def load_cluster_images(log: Callable[[str], None] = print) -> list[str]:
    loaded = []
    for spec in cluster_images():
        archive = write_archive(spec)
        if import_archive(spec.ref, archive, archive.name):
            loaded.append(spec.ref)
    if loaded:
        log(f"imported {len(loaded)} cluster images into the node's containerd")
        log(str(store.tidy()))
    return loaded


def task_images() -> dict[str, str]:
    """The odpipe task images `make images` built, by step (its .build/images.env)."""
    env = REPO / ".build" / "images.env"
    if not env.exists():
        raise SystemExit("no task images: run `make images` first")
    refs = dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line)
    return {k: v for k, v in refs.items() if not k.endswith("_build_seconds")}


def load_docker_image(ref: str, attempts: int = 2, log: Callable[[str], None] | None = None) -> bool:
    """An image from the local Docker engine (make images) into the node, unless already there.

    `docker save` streams straight into `ctr images import -`: no tarball of ours lands on disk (the
    train image is several GB; Docker still stages its own copy under its data root while saving, and
    a full disk once made that fail in CI). A failed copy is tried again once, then stops naming both
    tools' own words and the free space. Before each try and after the import the node's store is
    tidied (store.py): that is what keeps rebuilds from filling the disk."""
    image_id = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    with store.exclusive():
        if _already_imported(ref, image_id):
            return False
        errors = ""
        for _ in range(attempts):
            store.tidy_held()  # room first: a failed try's partial blob, the build this one replaces
            errors = _stream_into_containerd(ref)
            if not errors:
                _record(ref, image_id)
                tidied = store.tidy_held()
                if log and tidied.freed_bytes:
                    log(str(tidied))
                return True
    free = shutil.disk_usage(CACHE.anchor).free / 2**30
    raise SystemExit(
        f"loading {ref} into the node failed {attempts} times ({free:.1f} GiB free on {CACHE.anchor}): {errors}"
    )


def _stream_into_containerd(ref: str) -> str:
    """`docker save ref | ctr images import -`; what went wrong, or '' when the image is in."""
    with tempfile.TemporaryFile() as save_err:
        save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE, stderr=save_err)
        imported = ctr("images", "import", "--snapshotter", store.SNAPSHOTTER, "-", stdin=save.stdout, check=False)
        assert save.stdout is not None
        save.stdout.close()
        save.wait()
        save_err.seek(0)
        said = save_err.read().decode(errors="replace").strip()
    problems = []
    if save.returncode:
        problems.append(f"docker save exited {save.returncode}: {said}")
    if imported.returncode:
        problems.append(f"ctr images import exited {imported.returncode}: {imported.stderr.strip()}")
    return "; ".join(problems)
