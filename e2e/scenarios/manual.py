"""The common manual setup, as the walkthroughs go and the README's "Where Argo and S3 already run"
says: Argo Workflows from its release manifests, MinIO installed alone with its chart (standalone, one
replica, NodePort, generated credentials, the three buckets), a Secret with those credentials in odpipe's
namespace, and `charts/odpipe-workflows` alone pointed at both; one workflow to Succeeded, its artifacts
in MinIO. Nothing is made by hand beyond what the README tells such a user to do."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
from pathlib import Path

import yaml

from e2e.cluster import components as c
from e2e.cluster.components import module_source

from . import charts, data
from .kube import MODEL, Target, helm_install, k, objects, s3, sh
from .memo import check_memoized
from .summary import Report
from .ui import check_ui
from .workflows import submit

ARGO_NS = "argo"  # Argo's cluster-install manifests name it
MINIO = Target(namespace="minio", release="minio", s3_service="minio")
TARGET = Target(namespace="odpipe", release="odpipe", s3_service="minio", s3_namespace="minio")
BUCKETS = ("argo-artifacts", "datasets", "models")


def run(r: Report, work: Path) -> None:
    with r.step("install Argo Workflows from its release manifests (kubectl apply --server-side -k)") as note:
        install_argo(work)
        note[""] = f"Argo {c.ARGO.version}, namespace {ARGO_NS}, cluster-install"
    # as docs/cluster.md: `openssl rand -base64 24` (token_urlsafe may begin with "-", which the MinIO
    # chart's post job hands to `mc alias set` as a flag: seen once, the job crash-looped)
    user, password = f"odpipe-{secrets.token_hex(4)}", base64.b64encode(secrets.token_bytes(24)).decode()
    with r.step("helm install minio (its chart alone: standalone, 1 replica, NodePort, generated credentials)") as note:
        helm_install(MINIO, charts.minio_chart(work), *minio_sets(user, password))
        note[""] = f"MinIO {c.minio_release(c.MINIO.version)}, buckets {', '.join(BUCKETS)}"
    with r.step("kubectl create secret + helm install odpipe charts/odpipe-workflows (alone)") as note:
        k("create", "namespace", TARGET.namespace)
        k("-n", TARGET.namespace, "create", "secret", "generic", TARGET.secret,
          f"--from-literal=rootUser={user}", f"--from-literal=rootPassword={password}")  # fmt: skip
        helm_install(TARGET, charts.WORKFLOWS, *workflows_sets(work))
        note[""] = f"s3.endpoint=minio.{MINIO.namespace}:9000, credentials.existingSecret={TARGET.secret}"
    with r.step("upload the bccd set to s3://datasets/bccd/") as note, s3(TARGET) as client:
        note[""] = f"{data.upload(client)} images + annotations.json"
    with r.step("argo submit --from workflowtemplate/odpipe-pipeline --wait (manual setup)") as note:
        wf = submit(TARGET, "odpipe-manual-v1", data.params())
        r.facts["workflow manual"] = wf
        arts = objects(TARGET, "argo-artifacts", "odpipe-manual-v1/")
        models = objects(TARGET, "models", f"{MODEL}/")
        if not any(a.endswith(".tgz") for a in arts) or f"{MODEL}/1/model.onnx" not in models:
            raise RuntimeError(f"manual setup: artifacts {sorted(arts)}, models {sorted(models)}")
        note[""] = f"{wf['status']['phase']} in {wf['_wall']:.0f} s, {len(arts)} artifacts, {len(models)} model objects"
    # train's cache in Argo's namespace: the chart's Roles there let the controller write it, check-inputs read it
    check_memoized(r, TARGET, wf, "odpipe-manual-again", data.params())
    # an Argo odpipe does not own, with every default: its reports show their pictures all the same
    check_ui(
        r, TARGET.namespace, "argo-server", TARGET.secret, "odpipe-manual-v1", server_namespace=ARGO_NS, scheme="https"
    )


def install_argo(work: Path) -> None:
    """Argo's own release manifests (the module's manifests/, which install.yaml is made of), with the
    image tags of the binaries built here, applied server-side as its docs say (the full CRDs are too
    large for a client-side apply's annotation)."""
    manifests = work / "argo-manifests"
    shutil.copytree(module_source(c.ARGO) / "manifests", manifests)
    sh("chmod", "-R", "u+w", manifests)
    v = c.ARGO.version
    (manifests / "kustomization.yaml").write_text(
        f"""apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {ARGO_NS}
resources: [cluster-install]
images:
  - {{name: quay.io/argoproj/workflow-controller, newTag: {v}}}
  - {{name: quay.io/argoproj/argocli, newTag: {v}}}
"""
    )
    k("create", "namespace", ARGO_NS, check=False)
    k("apply", "--server-side", "-k", str(manifests))
    for deploy in ("workflow-controller", "argo-server"):
        k("-n", ARGO_NS, "rollout", "status", f"deploy/{deploy}", "--timeout=300s")


def minio_sets(user: str, password: str) -> list[str]:
    buckets = [{"name": b, "policy": "none", "purge": False} for b in BUCKETS]
    return ["--set", "mode=standalone", "--set", "replicas=1", "--set", "service.type=NodePort",
            "--set", "persistence.size=10Gi", "--set", "resources.requests.memory=512Mi",
            "--set", f"rootUser={user}", "--set", f"rootPassword={password}",
            "--set-json", f"buckets={json.dumps(buckets)}",
            "--set-json", "users=[]", *charts.minio_images(prefix="")]  # fmt: skip


def workflows_sets(work: Path) -> list[str]:
    """The e2e's node-sized values for odpipe-workflows (values-cluster.yaml's section), pointed at MinIO."""
    values = yaml.safe_load(charts.CLUSTER_VALUES.read_text())["odpipe-workflows"]
    values.get("serving", {})["enabled"] = False
    path = work / "odpipe-workflows-values.yaml"
    path.write_text(yaml.safe_dump(values))
    return ["-f", str(path), "--set", f"s3.endpoint=minio.{MINIO.namespace}:9000",
            "--set", f"credentials.existingSecret={TARGET.secret}", *charts.odpipe_images(prefix="")]  # fmt: skip
