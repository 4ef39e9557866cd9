"""The cluster of `make cluster` checked offline: versions pinned by the go.mod files, the image archives
the node imports, the node's configuration (what this machine forced), and that every image the
umbrella renders with e2e/values-cluster.yaml is one the cluster builds or `make images` makes."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from charts import render, umbrella_offline
from e2e.cluster import addons, components, images, node, store

REPO = Path(__file__).resolve().parents[1]


def test_each_module_pins_its_component() -> None:
    assert components.KUBERNETES.version.startswith("v1.34.")
    assert components.ARGO.version.startswith("v4.0.")
    # MinIO's image tags are the pseudo-versions' commit times
    assert components.minio_release(components.MC.version) == "RELEASE.2024-11-21T17-21-54Z"
    assert components.pseudo_time("v0.0.0-20260212201848-7aac2a2c5b7c") == "2026-02-12T20:18:48Z"


def test_kubernetes_wrapper_replaces_every_staging_module_with_the_same_release() -> None:
    text = (components.MODULES / "kubernetes" / "go.mod").read_text()
    minor = components.KUBERNETES.version.split(".")[1]
    replaced = re.findall(r"^\s*(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)$", text, re.MULTILINE)
    assert len(replaced) > 25
    assert {v for _, _, v in replaced} == {f"v0.{minor}.{components.KUBERNETES.version.split('.')[2]}"}
    assert all(a == b for a, b, _ in replaced)


def test_chosen_kubernetes_is_inside_the_charts_kube_version() -> None:
    for chart in ("odpipe", "odpipe-workflows"):
        meta = yaml.safe_load((REPO / "charts" / chart / "Chart.yaml").read_text())
        floor = re.match(r">=\s*(\d+)\.(\d+)", meta["kubeVersion"])
        assert floor, meta["kubeVersion"]
        assert (1, int(components.KUBERNETES.version.split(".")[1])) >= (int(floor[1]), int(floor[2]))


def _archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> tuple[dict[str, Any], dict[str, Any], tarfile.TarFile]:
    monkeypatch.setattr(images, "CACHE", tmp_path / "cache")
    binary = tmp_path / "tool"
    binary.write_bytes(b"\x7fELF fake static binary")
    spec = images.ImageSpec("example.org/tool:v1", {"/bin/tool": (binary, 0o755)}, ["tool"], user="8737", **kw)
    with tarfile.open(images.write_archive(spec)) as outer:
        manifest = json.loads(outer.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config_bytes = outer.extractfile(manifest[0]["Config"]).read()  # type: ignore[union-attr]
        layer_bytes = outer.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert manifest[0]["Config"] == hashlib.sha256(config_bytes).hexdigest() + ".json"
    config = json.loads(config_bytes)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]
    return manifest[0], config, tarfile.open(fileobj=io.BytesIO(layer_bytes))


def test_image_archive_is_a_docker_archive_containerd_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest, config, layer = _archive(tmp_path, monkeypatch)
    assert manifest["RepoTags"] == ["example.org/tool:v1"]
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert config["config"]["Entrypoint"] == ["tool"] and config["config"]["User"] == "8737"
    tool = layer.getmember("bin/tool")
    assert tool.mode == 0o755 and layer.extractfile(tool).read().startswith(b"\x7fELF")  # type: ignore[union-attr]
    assert layer.getmember("tmp").mode == 0o1777  # emptyDir-less tools still get a writable /tmp


@pytest.mark.skipif(not images.BUSYBOX.exists(), reason="busybox-static is not installed (make cluster installs it)")
def test_shell_images_carry_sh_for_the_minio_charts_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, layer = _archive(tmp_path, monkeypatch, busybox=True)
    sh = layer.getmember("bin/sh")
    assert sh.issym() and sh.linkname == "busybox"


@pytest.fixture
def node_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(node, "state", lambda *p: tmp_path.joinpath(*p))
    monkeypatch.setattr(node, "run_dir", lambda *p: tmp_path.joinpath("run", *p))
    return tmp_path


def test_containerd_config_has_what_this_machine_needs(node_state: Path) -> None:
    text = node.containerd_config().read_text()
    # root here has no CAP_SYS_RESOURCE: runc failed every sandbox ("failed to update
    # /proc/self/oom_score_adj: Permission denied") until containerd restricted the score
    assert "restrict_oom_score_adj = true" in text
    assert "SystemdCgroup = false" in text  # cgroupfs, as the kubelet: no systemd here
    assert f'sandbox_image = "{images.PAUSE_IMAGE}"' in text
    cni = json.loads((node_state / "cni" / "net.d" / "10-odpipe.conflist").read_text())
    assert cni["plugins"][0]["ipam"]["ranges"][0][0]["subnet"] == "10.244.0.0/24"


def test_kubelet_config_runs_on_cgroup_v1_without_losing_images(node_state: Path) -> None:
    config = yaml.safe_load(node.kubelet_config().read_text())
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["failCgroupV1"] is False
    assert config["imageGCHighThresholdPercent"] == 100  # nothing can be pulled again
    assert config["readOnlyPort"] == 0 and config["authentication"]["anonymous"]["enabled"] is False


def test_storage_binds_at_once_on_local_volumes() -> None:
    docs = list(yaml.safe_load_all(addons.storage_manifest()))
    sc = docs[0]
    # WaitForFirstConsumer made `helm install --wait` wait forever for the datasets PVC (no pod mounts
    # it until a workflow runs); `local` volumes (not hostPath) get the pods' fsGroup
    assert sc["volumeBindingMode"] == "Immediate"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert all("local" in pv["spec"] and "hostPath" not in pv["spec"] for pv in docs[1:])


def _images(obj: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "image" and isinstance(value, str):
                found.add(value)
            else:
                found |= _images(value)
    elif isinstance(obj, list):
        for item in obj:
            found |= _images(item)
    return found


def test_every_image_the_e2e_install_renders_is_built_here(tmp_path: Path) -> None:
    chart = umbrella_offline(tmp_path)
    docs = render(
        chart,
        REPO / "e2e" / "values-cluster.yaml",
        sets=("odpipe-workflows.image.registry=ghcr.io", "odpipe-workflows.image.tag=0.1.0"),
        namespace="mlops",
    )
    rendered = _images(docs)
    built = {s.ref for s in images.cluster_images()}
    tasks = {f"ghcr.io/odpipe/{t}:0.1.0" for t in ("prepare", "train", "export-deploy", "serve")}
    assert rendered, "no image rendered"
    assert rendered <= built | tasks, sorted(rendered - built - tasks)


def test_minio_chart_in_the_module_names_the_mc_built_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOPROXY", "off")  # look in the module cache only: tests download nothing
    try:
        source = components.module_source(components.MINIO)
    except Exception as exc:
        pytest.skip(f"the minio module is not in the Go module cache ({exc}); make cluster downloads it")
    if not (source / "helm" / "minio").is_dir():
        pytest.skip("the minio module is not in the Go module cache; make cluster downloads it")
    values = yaml.safe_load((source / "helm" / "minio" / "values.yaml").read_text())
    assert values["mcImage"]["tag"] == components.minio_release(components.MC.version)


def test_a_default_install_can_wait(tmp_path: Path) -> None:
    """`helm install --wait` finishes only when every Deployment is Ready: the serve Deployment is Ready
    only with a model loaded, which a new install does not have (the real cluster timed out on it), so
    the defaults must not deploy it, and the e2e enables it by upgrade after the first run."""
    from e2e.scenarios.umbrella import INSTALL_SETS

    chart = umbrella_offline(tmp_path)
    cluster_values = REPO / "e2e" / "values-cluster.yaml"

    def serve_deployments(docs: list[dict[str, Any]]) -> list[str]:
        names = [d["metadata"]["name"] for d in docs if d.get("kind") == "Deployment"]
        return [n for n in names if "serve" in n]

    assert not serve_deployments(render(chart, namespace="mlops"))
    assert not serve_deployments(render(chart, cluster_values, sets=INSTALL_SETS[1::2]))  # the e2e's install
    assert serve_deployments(render(chart, cluster_values))  # and its upgrade after v1
    values = yaml.safe_load(cluster_values.read_text())
    assert values["odpipe-workflows"]["serving"]["enabled"] is True  # enabled by the upgrade after v1


def test_module_source_never_answers_an_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a cold CI run found `go list -m -f {{.Dir}}` answering "" for a module whose zip was not fetched
    # yet, which read as the current folder; module_source must download it or say which it lacks
    monkeypatch.setenv("GOPROXY", "off")
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(RuntimeError, match=re.escape("github.com/argoproj/argo-workflows/v4: no source")):
        components.module_source(components.ARGO)


def test_a_node_restart_keeps_etcd_the_pki_and_the_volumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from e2e.cluster import controlplane, up

    wiping = {"build", "clean", "pki", "volumes"}
    names = [a.name for a in up.RESTART_ACTIONS]
    assert names == [a.name for a in up.ACTIONS if a.name not in wiping]
    member = tmp_path / "etcd" / "member"
    member.mkdir(parents=True)
    monkeypatch.setattr(controlplane, "state", lambda *parts: tmp_path.joinpath(*parts))
    monkeypatch.setattr(controlplane.p, "start", lambda *args, **kwargs: 0)
    monkeypatch.setattr(controlplane.p, "wait_for", lambda *args, **kwargs: 0.0)
    next(a for a in up.RESTART_ACTIONS if a.name == "etcd").run(print)
    assert member.is_dir(), "a restart's etcd started without its data"
    next(a for a in up.ACTIONS if a.name == "etcd").run(print)
    assert not member.exists(), "make cluster's etcd kept an earlier cluster's data"


def _tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def test_a_task_image_streams_into_the_node_and_a_failed_copy_names_both_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`docker save` piped into `ctr images import -` (no tarball on disk); stand-in tools on PATH record
    what went through the pipe, since neither Docker's daemon nor the node's containerd runs here."""
    got = tmp_path / "imported"
    _tool(tmp_path, "docker", 'case "$1" in image) echo sha256:abc;; save) printf IMAGE-BYTES;; esac\n')
    _tool(
        tmp_path,
        "ctr",
        f'[ "$(echo "$@" | grep -c -- "import --snapshotter overlayfs -$")" = 1 ] || exit 9\ncat > {got}\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setattr(images, "state", lambda *parts: tmp_path.joinpath("state", *parts))
    monkeypatch.setattr(store, "state", lambda *parts: tmp_path.joinpath("state", *parts))
    # the tidying itself runs against a real containerd in test_node_store.py; here, when it runs
    tidied: list[bool] = []

    def tidy_held() -> store.Tidied:
        tidied.append(got.exists())
        return store.Tidied(freed_bytes=2**30)

    monkeypatch.setattr(store, "tidy_held", tidy_held)
    said: list[str] = []
    assert images.load_docker_image("ghcr.io/odpipe/train:0.1.0", log=said.append) is True
    assert got.read_text() == "IMAGE-BYTES"
    assert tidied == [False, True], "tidied before the import (room) and after it (the build it replaced)"
    assert said == ["node image store: nothing to drop, 1.0 GiB freed"]

    _tool(
        tmp_path,
        "docker",
        'case "$1" in image) echo sha256:def;; save) echo "no space left on device" >&2; exit 1;; esac\n',
    )
    _tool(tmp_path, "ctr", 'cat > /dev/null; echo "unexpected EOF" >&2; exit 1\n')
    with pytest.raises(SystemExit) as failed:
        images.load_docker_image("ghcr.io/odpipe/train:0.1.0")
    assert tidied[2:] == [True, True], "tidied before each try"
    said = str(failed.value)
    assert "failed 2 times" in said and "GiB free" in said
    assert "docker save exited 1: no space left on device" in said
    assert "ctr images import exited 1: unexpected EOF" in said
