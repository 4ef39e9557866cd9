"""Security as the running cluster shows it, after a workflow: the executor's ServiceAccount can do what
its Role lists and nothing more (a `kubectl auth can-i` table); the generated S3 password appears in no
pod spec, container argument, log, workflow status, artifact or ConfigMap; and the task containers ran
as their non-root uid with a read-only root filesystem, as the chart says."""

from __future__ import annotations

import json
from typing import Any

from .kube import Target, k, kjson, list_objects, s3, s3_credentials
from .summary import Report

#: (verb, resource) -> what the workflow ServiceAccount's Role allows
CAN_I = {
    ("create", "workflowtaskresults.argoproj.io"): True,
    ("patch", "workflowtaskresults.argoproj.io"): True,
    ("get", "secrets"): False,
    ("list", "secrets"): False,
    ("get", "configmaps"): False,
    # check-inputs prunes train's memo cache (the umbrella's controller runs in the release namespace)
    ("update", "configmaps/mlops-odpipe-workflows-train-memo"): True,
    ("update", "configmaps/artifact-repositories"): False,
    ("create", "pods"): False,
    ("list", "pods"): False,
    ("get", "workflows.argoproj.io"): False,
    ("create", "workflows.argoproj.io"): False,
    ("delete", "persistentvolumeclaims"): False,
}


def check_security(r: Report, target: Target, workflow: dict[str, Any], service_account: str) -> None:
    with r.step("security: the executor's rights, the S3 password nowhere, task containers non-root") as note:
        table = can_i_table(target.namespace, service_account)
        r.facts["security can-i"] = {f"{verb} {res}": allowed for (verb, res), allowed in table.items()}
        wrong = {key: got for key, got in table.items() if got != CAN_I[key]}
        if wrong:
            raise RuntimeError(f"{service_account} may {wrong}, its Role says {[(k, CAN_I[k]) for k in wrong]}")
        places = password_places(target, workflow)
        if places:
            raise RuntimeError(f"the S3 password appears in {places}")
        users = container_users(workflow)
        r.facts["security containers"] = users
        loose = {c: u for c, u in users.items() if not u["non-root"] or not u["read-only root"]}
        if loose:
            raise RuntimeError(f"task containers not locked down: {loose}")
        allowed = f"{sum(table.values())} of {len(table)} allowed"
        note[""] = (f"can-i as the Role says ({allowed}), the password in none of {len(SEARCHED)} places, "
                    f"{len(users)} containers non-root with a read-only root")  # fmt: skip


def can_i_table(namespace: str, service_account: str) -> dict[tuple[str, str], bool]:
    who = f"--as=system:serviceaccount:{namespace}:{service_account}"
    return {(verb, res): k("auth", "can-i", verb, res, "-n", namespace, who, check=False).strip() == "yes"
            for verb, res in CAN_I}  # fmt: skip


SEARCHED = ("pod specs", "container args", "pod logs", "workflow status", "configmaps", "artifacts")


def password_places(target: Target, workflow: dict[str, Any]) -> list[str]:
    _, password = s3_credentials(target)
    ns, found = target.namespace, []
    pods = kjson("-n", ns, "get", "pods")["items"]
    if any(password in json.dumps(p["spec"]) for p in pods):
        found.append("a pod spec")
    if any(password in json.dumps(pod.get("spec", {})) for pod in workflow.get("_pods", {}).values()):
        found.append("a task pod's containers")
    for pod in pods:
        for c in pod["spec"]["containers"]:
            if password in k("-n", ns, "logs", pod["metadata"]["name"], "-c", c["name"], check=False):
                found.append(f"the log of {pod['metadata']['name']}/{c['name']}")
    if password in json.dumps(workflow["status"]):
        found.append("the workflow's status")
    if password in json.dumps(kjson("-n", ns, "get", "configmaps")["items"]):
        found.append("a ConfigMap")
    with s3(target) as client:
        for key in list_objects(client, "argo-artifacts", f"{workflow['metadata']['name']}/"):
            body = client.get_object(Bucket="argo-artifacts", Key=key)["Body"].read()
            if password.encode() in body:
                found.append(f"s3://argo-artifacts/{key}")
    return found


def container_users(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each task pod's main container as it ran: its uid and root filesystem, from its pod's spec (the
    container's securityContext over the pod's)."""
    out = {}
    for pod in workflow.get("_pods", {}).values():
        spec = pod.get("spec", {})
        for c in spec.get("containers", []):
            if c["name"] != "main":
                continue
            ctx = {**spec.get("securityContext", {}), **c.get("securityContext", {})}
            uid = ctx.get("runAsUser")
            out[pod["name"]] = {"uid": uid, "non-root": ctx.get("runAsNonRoot") is True and uid not in (None, 0),
                                "read-only root": ctx.get("readOnlyRootFilesystem") is True}  # fmt: skip
    return out
