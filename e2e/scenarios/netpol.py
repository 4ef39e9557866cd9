"""The chart's NetworkPolicies under the cluster's enforcer (e2e/cluster/netpol), probed from two pods of
the prepare image: one labelled as the release labels its task pods, one labelled as nobody's. Every
block is paired with a control that shows the same probe connecting where the policies allow it, so a
block is the policy's and not a broken probe. The pipeline's own runs, under the same enforcer, show the
policies allow what the steps need."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from e2e.cluster.images import task_images
from e2e.cluster.layout import logs

from .kube import Target, helm, k, kjson
from .summary import Report

PORT = 8080
#: connects to host:port, prints {"ok": bool, "error": ...}
PROBE = """
import json, socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=4).close()
    print(json.dumps({"ok": True}))
except OSError as err:
    print(json.dumps({"ok": False, "error": type(err).__name__}))
"""
LISTEN = f"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("", {PORT})); s.listen()
while True:
    s.accept()[0].close()
"""


def _probe_pod(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "probe",
                    "image": task_images()["prepare"],
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", LISTEN],
                    "ports": [{"containerPort": PORT}],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def _connects(namespace: str, pod: str, host: str, port: int) -> bool:
    out = k("-n", namespace, "exec", pod, "--", "python", "-c", PROBE, host, str(port), timeout=60)
    return bool(json.loads(out.strip().splitlines()[-1])["ok"])


def _enforced(pod: str) -> bool:
    """The enforcer's log names the pod among the isolated ones (its chains are loaded)."""
    log = logs("network-policy")
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return any(f"/{pod} " in line for line in lines[-3:])


def _service(namespace: str, name: str) -> str:
    return f"{name}.{namespace}.svc"


def _isolated_seen(namespace: str, prefix: str) -> set[str]:
    """The pods whose names start with `prefix` that the enforcer ever isolated (its log)."""
    log = logs("network-policy")
    text = log.read_text(errors="replace") if log.exists() else ""
    return {word.split("/", 1)[1] for word in text.split() if word.startswith(f"{namespace}/{prefix}")}


Case = tuple[str, str, int, bool]  #: (from pod, to host, port, expected to connect)
Result = tuple[str, str, int, bool, bool]  #: a case and whether it connected


def _probe(ns: str, pods: dict[str, dict[str, str]], cases: Callable[[], list[Case]]) -> list[Result]:
    """Start the probe pods, wait until the enforcer has isolated every pod a policy selects, run the
    cases (built once the pods have their IPs), and delete the pods."""
    for name, labels in pods.items():
        k("apply", "-f", "-", input=json.dumps(_probe_pod(name, ns, labels)))
    try:
        k("-n", ns, "wait", "--for=condition=Ready", *(f"pod/{p}" for p in pods), "--timeout=120s")
        governed = [name for name in pods if _governed(ns, name)]
        deadline = time.monotonic() + 30
        while not all(_enforced(p) for p in governed) and time.monotonic() < deadline:
            time.sleep(0.5)
        if not all(_enforced(p) for p in governed):
            raise RuntimeError(f"the enforcer did not isolate {governed} in 30 s (log {logs('network-policy')})")
        return [(src, host, port, want, _connects(ns, src, host, port)) for src, host, port, want in cases()]
    finally:
        k("-n", ns, "delete", "pod", *pods, "--wait=false", "--ignore-not-found", check=False)


def _governed(ns: str, pod: str) -> bool:
    """Some policy of the namespace selects the pod (matchLabels only: the chart's policies use no more)."""
    labels = kjson("-n", ns, "get", "pod", pod)["metadata"].get("labels", {})
    return any(
        all(labels.get(key) == value for key, value in p["spec"]["podSelector"].get("matchLabels", {}).items())
        for p in kjson("-n", ns, "get", "networkpolicy")["items"]
    )


def _judge(r: Report, fact: str, results: list[Result]) -> int:
    """Record the probes; fail naming each one that went against the policy; the number blocked."""
    r.facts[fact] = [
        {"from": src, "to": f"{host}:{port}", "expected": want, "connected": got}
        for src, host, port, want, got in results
    ]
    wrong = [
        f"{src} -> {host}:{port}: {'connected' if got else 'blocked'}"
        for src, host, port, want, got in results
        if got != want
    ]
    if wrong:
        raise RuntimeError("NetworkPolicies not as the chart says: " + "; ".join(wrong))
    return sum(not want for _, _, _, want, _ in results)


def _ip(ns: str, pod: str) -> str:
    return str(kjson("-n", ns, "get", "pod", pod)["status"]["podIP"])


def check_network_policies(r: Report, target: Target, workflow: str, blocked_service: tuple[str, int]) -> None:
    """`blocked_service`: a Service the task pods must not reach and any other pod may (argo-server).
    The probe pods carry the labels the tasks' policy selects, read from the installed policy."""
    ns = target.namespace
    policies = kjson("-n", ns, "get", "networkpolicy")["items"]
    tasks_policy = next(p for p in policies if p["metadata"]["name"].endswith("-tasks"))
    task_labels = tasks_policy["spec"]["podSelector"]["matchLabels"]
    task, other, peer = "netpol-probe-task", "netpol-probe-other", "netpol-probe-peer"
    with r.step("NetworkPolicies enforced: what a task pod may reach, and who may reach it") as note:
        seen = _isolated_seen(ns, f"{workflow}-")
        if not seen:
            raise RuntimeError(f"the enforcer never isolated a pod of {workflow}: its pods lack the policy's labels?")
        s3 = (_service(ns, target.s3_service), 9000)
        blocked = (_service(ns, blocked_service[0]), blocked_service[1])

        def cases() -> list[Case]:  # each block beside a control that connects
            peer_ip, task_ip = _ip(ns, peer), _ip(ns, task)
            return [
                (task, *s3, True),
                (task, *blocked, False),
                (other, *blocked, True),
                (task, peer_ip, PORT, False),
                (other, peer_ip, PORT, True),
                (other, task_ip, PORT, False),
            ]

        probes = {task: task_labels, other: {"app": "netpol-probe"}, peer: {"app": "netpol-probe"}}
        results = _probe(ns, probes, cases)
        blocks = _judge(r, "network policy probes", results)
        note[""] = (
            f"{len(seen)} pods of {workflow} ran isolated; {len(results)} probes as expected "
            f"({blocks} blocked, each beside a control that connects)"
        )


def check_serving_policy(r: Report, target: Target, clients: dict[str, str]) -> None:
    """serving.ingressFrom on the cluster: a pod with the client labels it names reaches serve, a pod of
    the namespace without them does not; the release's own `helm test` (its serving-ready pod) passes."""
    ns = target.namespace
    client, stranger = "netpol-probe-client", "netpol-probe-stranger"
    with r.step("NetworkPolicies enforced: serve takes requests only from serving.ingressFrom (and helm test)") as note:
        svc = kjson("-n", ns, "get", "svc", "-l", "app.kubernetes.io/component=serving")["items"][0]
        serve = (_service(ns, svc["metadata"]["name"]), int(svc["spec"]["ports"][0]["port"]))
        results = _probe(ns, {client: clients, stranger: {"app": "netpol-probe"}},
                         lambda: [(client, *serve, True), (stranger, *serve, False)])  # fmt: skip
        blocks = _judge(r, "serving policy probes", results)
        serving = kjson("-n", ns, "get", "pods", "-l", "app.kubernetes.io/component=serving")["items"]
        isolated = [p["metadata"]["name"] for p in serving if _enforced(p["metadata"]["name"])]
        if not isolated:
            raise RuntimeError("the enforcer does not isolate the serve pod: its policy selects nothing?")
        helm("test", target.release, "-n", ns, "--timeout", "5m")
        note[""] = (f"{clients} reaches {serve[0]}:{serve[1]}, an unlabelled pod does not ({blocks} blocked); "
                    "helm test (serving-ready) passed")  # fmt: skip
