"""The cluster's NetworkPolicy enforcer (e2e/cluster/netpol): Kubernetes' policy semantics, checked on the
chart's own rendered policies and pod labels, and the iptables chains it loads. `make e2e` probes the
chains live (e2e/scenarios/netpol.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster.netpol import iptables
from e2e.cluster.netpol.compile import allows, compile_rules
from e2e.cluster.netpol.model import Cluster, Pod, from_api, selects
from tests.charts import WORKFLOWS, by_kind, render

NODE = "10.201.0.1"


def _pod(name: str, ip: str, labels: dict[str, str], namespace: str = "mlops", **ports: int) -> Pod:
    return Pod(namespace, name, ip, labels, {n: ("TCP", p) for n, p in ports.items()})


def _policy(name: str, spec: dict[str, Any], namespace: str = "mlops") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


@pytest.fixture(scope="module")
def chart() -> list[dict[str, Any]]:
    return render(WORKFLOWS, WORKFLOWS / "ci" / "default-values.yaml", sets=("serving.enabled=true",))


@pytest.fixture(scope="module")
def cluster(chart: list[dict[str, Any]]) -> Cluster:
    """Pods labelled as the chart labels them: a train pod (its template's labels), the helm test pod,
    a serve pod; beside them MinIO, CoreDNS and a pod of somebody else's."""
    train = next(t for w in by_kind(chart, "WorkflowTemplate") for t in w["spec"]["templates"] if t["name"] == "train")
    test_pod = next(p for p in by_kind(chart, "Pod") if p["metadata"]["name"].endswith("test-s3"))
    serve = next(d for d in by_kind(chart, "Deployment") if d["metadata"]["name"].endswith("-serve"))
    pods = (
        _pod("train", "10.244.0.10", train["metadata"]["labels"]),
        _pod("helm-test", "10.244.0.11", test_pod["metadata"]["labels"]),
        _pod("serve", "10.244.0.12", serve["spec"]["template"]["metadata"]["labels"], http=8080),
        _pod("minio", "10.244.0.20", {"app": "minio"}),
        _pod("coredns", "10.244.0.2", {"k8s-app": "kube-dns"}, namespace="kube-system"),
        _pod("other", "10.244.0.30", {"app": "other"}, namespace="default"),
    )
    return Cluster(pods, {"mlops": {}, "kube-system": {}, "default": {}}, tuple(by_kind(chart, "NetworkPolicy")))


@pytest.mark.parametrize(
    ("src", "dst", "protocol", "port", "passes"),
    [
        ("10.244.0.10", "10.244.0.20", "TCP", 9000, True),  # train -> S3
        ("10.244.0.10", "10.244.0.20", "TCP", 9001, False),  # train -> MinIO's console
        ("10.244.0.10", "10.244.0.2", "UDP", 53, True),  # DNS, on the pod's port 53
        ("10.244.0.10", "10.244.0.2", "UDP", 1053, False),  # DNS listening elsewhere is not allowed
        ("10.244.0.10", NODE, "TCP", 6443, True),  # the API server (the wait container's results)
        ("10.244.0.10", NODE, "TCP", 10250, False),  # the kubelet
        ("10.244.0.10", "10.244.0.30", "TCP", 80, False),  # anything else
        ("10.244.0.10", "10.244.0.12", "TCP", 8080, True),  # serve, allowed while serving is on (helm test)
        ("10.244.0.30", "10.244.0.10", "TCP", 8080, False),  # nothing reaches a task pod
        ("10.244.0.12", "10.244.0.10", "TCP", 8080, False),
        ("10.244.0.30", "10.244.0.12", "TCP", 8080, True),  # serve takes requests from anywhere
        ("10.244.0.30", "10.244.0.12", "TCP", 9090, False),  # on its port only
        ("10.244.0.12", "10.244.0.20", "TCP", 9000, True),  # serve reads the models bucket
        ("10.244.0.12", "10.244.0.30", "TCP", 80, False),
        ("10.244.0.11", "10.244.0.20", "TCP", 9000, True),  # the helm test pod checks S3
        ("10.244.0.30", "10.244.0.20", "TCP", 9000, True),  # MinIO itself is not isolated by this chart
    ],
)
def test_the_charts_policies(cluster: Cluster, src: str, dst: str, protocol: str, port: int, passes: bool) -> None:
    assert allows(compile_rules(cluster), src, dst, protocol, port) is passes


def test_selector_semantics() -> None:
    labels = {"app": "x", "tier": "web"}
    assert selects({}, labels) and selects(None, {})
    assert selects({"matchLabels": {"app": "x"}}, labels)
    assert not selects({"matchLabels": {"app": "y"}}, labels)
    assert selects({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "db"]}]}, labels)
    assert not selects({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}, labels)
    assert selects({"matchExpressions": [{"key": "gone", "operator": "NotIn", "values": ["web"]}]}, labels)
    assert selects({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, labels)
    assert not selects({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, labels)
    with pytest.raises(ValueError, match="operator"):
        selects({"matchExpressions": [{"key": "app", "operator": "Equals"}]}, labels)


def test_policy_types_namespaces_ip_blocks_and_named_ports() -> None:
    web = _pod("web", "10.244.0.5", {"app": "web"}, http=8080)
    db = _pod("db", "10.244.0.6", {"app": "db"}, namespace="data")
    spy = _pod("spy", "10.244.0.7", {"app": "web"}, namespace="default")
    policies = (
        # no policyTypes and no egress: ingress only; the named port is the pod's own 8080
        _policy("web-in", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": "http"}]}]}),
        # egress to pods of namespaces labelled team=data, and to 192.168.0.0/16 except one /24, on a range
        _policy(
            "web-out",
            {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"namespaceSelector": {"matchLabels": {"team": "data"}}}]},
                    {
                        "to": [{"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.1.0/24"]}}],
                        "ports": [{"protocol": "TCP", "port": 5000, "endPort": 5010}],
                    },
                ],
            },
        ),
    )
    rules = compile_rules(Cluster((web, db, spy), {"mlops": {}, "data": {"team": "data"}, "default": {}}, policies))
    assert allows(rules, spy.ip, web.ip, "TCP", 8080) and not allows(rules, spy.ip, web.ip, "TCP", 8081)
    assert allows(rules, web.ip, db.ip, "UDP", 1)  # no ports: every port and protocol
    assert not allows(rules, web.ip, spy.ip, "TCP", 8080)  # policies select in their own namespace only
    assert allows(rules, spy.ip, db.ip, "TCP", 22)  # unselected pods are not isolated
    assert allows(rules, web.ip, "192.168.2.9", "TCP", 5010) and not allows(rules, web.ip, "192.168.2.9", "TCP", 5011)
    assert not allows(rules, web.ip, "192.168.1.9", "TCP", 5005)  # the exception
    # a policy with an empty ingress list isolates and allows nothing; two policies add up
    deny = _policy("deny", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}, namespace="data")
    rules = compile_rules(Cluster((web, db, spy), {"mlops": {}, "data": {"team": "data"}, "default": {}}, (deny,)))
    assert not allows(rules, spy.ip, db.ip, "TCP", 22) and allows(rules, db.ip, spy.ip, "TCP", 22)


def test_pods_the_policies_govern() -> None:
    """Pods on the host's network, finished pods and pods without an address are left out (their address
    is the node's, or may be given to the next pod)."""

    def item(name: str, **status: Any) -> dict[str, Any]:
        spec = {"hostNetwork": True} if status.pop("host", False) else {}
        spec["containers"] = [{"ports": [{"name": "http", "containerPort": 80}]}]
        return {"metadata": {"name": name, "namespace": "a"}, "spec": spec, "status": status}

    cluster = from_api(
        [
            item("live", podIP="10.244.0.3", phase="Running"),
            item("done", podIP="10.244.0.4", phase="Succeeded"),
            item("host", podIP=NODE, phase="Running", host=True),
            item("new", phase="Pending"),
        ],
        [{"metadata": {"name": "a", "labels": {"x": "y"}}}],
        [],
    )
    assert [p.name for p in cluster.pods] == ["live"] and cluster.pods[0].named_ports == {"http": ("TCP", 80)}
    assert cluster.namespaces == {"a": {"x": "y"}}


def test_the_chains(cluster: Cluster) -> None:
    """One chain per isolated pod and direction, each ending in a DROP after the allowed traffic is marked;
    the dispatch by address; chain names within iptables' 28 characters."""
    text = iptables.render(compile_rules(cluster))
    lines = text.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    chains = [line[1:].split()[0] for line in lines if line.startswith(":")]
    assert all(len(c) <= 28 for c in chains)
    egress = [c for c in chains if c.startswith("ODPIPE-NP-E-")]
    ingress = [c for c in chains if c.startswith("ODPIPE-NP-I-")]
    assert len(egress) == 3 and len(ingress) == 3  # train, helm test, serve (MinIO, CoreDNS, other: none)
    for chain in egress + ingress:
        body = [line for line in lines if line.startswith(f"-A {chain} ")]
        assert body[-1].endswith("-j DROP") and f"--mark {iptables.MARK}/{iptables.MARK} -j RETURN" in body[-2]
    assert f"-A {iptables.EGRESS} -s 10.244.0.10/32 -j {iptables._chain('E', '10.244.0.10')}" in lines
    train_out = [line for line in lines if line.startswith(f"-A {iptables._chain('E', '10.244.0.10')} ")]
    assert any("-p udp --dport 53 " in line for line in train_out)
    assert any("-p tcp --dport 9000 " in line for line in train_out)
    # conntrack first: replies and established connections are never judged again
    assert lines.index(f"-A {iptables.TOP} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN") < lines.index(
        f"-A {iptables.TOP} -j {iptables.EGRESS}"
    )


def test_serving_ingress_from_lets_in_the_named_clients_and_the_releases_helm_test_only(tmp_path: Path) -> None:
    """serving.ingressFrom narrows who reaches serve; the chart's own `helm test` pod (serving-ready) must
    still reach it, or the release's test fails once a user sets the value."""
    client = {"odpipe.io/serving-client": "true"}
    values = tmp_path / "clients.yaml"
    values.write_text(
        json.dumps({"serving": {"enabled": True, "ingressFrom": [{"podSelector": {"matchLabels": client}}]}})
    )
    chart = render(WORKFLOWS, WORKFLOWS / "ci" / "default-values.yaml", values)
    serve = next(d for d in by_kind(chart, "Deployment") if d["metadata"]["name"].endswith("-serve"))
    test_serve = next(p for p in by_kind(chart, "Pod") if p["metadata"]["name"].endswith("test-serve"))
    pods = (
        _pod("serve", "10.244.0.12", serve["spec"]["template"]["metadata"]["labels"], http=8080),
        _pod("helm-test-serve", "10.244.0.11", test_serve["metadata"]["labels"]),
        _pod("client", "10.244.0.40", client),
        _pod("unlabelled", "10.244.0.41", {"app": "curl"}),
        _pod("client-elsewhere", "10.244.0.42", client, namespace="default"),
    )
    rules = compile_rules(Cluster(pods, {"mlops": {}, "default": {}}, tuple(by_kind(chart, "NetworkPolicy"))))
    assert allows(rules, "10.244.0.40", "10.244.0.12", "TCP", 8080)
    assert allows(rules, "10.244.0.11", "10.244.0.12", "TCP", 8080)
    assert not allows(rules, "10.244.0.41", "10.244.0.12", "TCP", 8080)
    assert not allows(rules, "10.244.0.42", "10.244.0.12", "TCP", 8080)  # a podSelector peer: same namespace
    assert not allows(rules, "10.244.0.40", "10.244.0.12", "TCP", 9090)
    without_tests = render(WORKFLOWS, WORKFLOWS / "ci" / "default-values.yaml", values, sets=("tests.enabled=false",))
    policy = next(p for p in by_kind(without_tests, "NetworkPolicy") if p["metadata"]["name"].endswith("-serving"))
    assert policy["spec"]["ingress"][0]["from"] == [{"podSelector": {"matchLabels": client}}]
