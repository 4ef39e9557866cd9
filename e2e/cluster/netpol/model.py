"""What the enforcer reads of the API: pods (address, labels, named ports), namespaces (labels) and
NetworkPolicies, and the label-selector semantics Kubernetes gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    ip: str
    labels: dict[str, str]
    #: containerPort names -> (protocol, number), for policies that name a port
    named_ports: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Cluster:
    pods: tuple[Pod, ...]
    namespaces: dict[str, dict[str, str]]
    policies: tuple[Json, ...]


def selects(selector: Json | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions); an empty selector selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(op)
        if ok is None:
            raise ValueError(f"unknown label selector operator {op!r}")
        if not ok:
            return False
    return True


def _named_ports(spec: Json) -> dict[str, tuple[str, int]]:
    return {
        port["name"]: (port.get("protocol", "TCP"), int(port["containerPort"]))
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        for port in container.get("ports") or []
        if port.get("name")
    }


def _live_pod(item: Json) -> Pod | None:
    """Pods that policies govern: with an address of their own, not on the host's network, not finished."""
    spec, status = item.get("spec") or {}, item.get("status") or {}
    if spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed") or not status.get("podIP"):
        return None
    meta = item["metadata"]
    return Pod(meta["namespace"], meta["name"], status["podIP"], dict(meta.get("labels") or {}), _named_ports(spec))


def from_api(pods: list[Json], namespaces: list[Json], policies: list[Json]) -> Cluster:
    return Cluster(
        pods=tuple(p for p in (_live_pod(item) for item in pods) if p is not None),
        namespaces={ns["metadata"]["name"]: dict(ns["metadata"].get("labels") or {}) for ns in namespaces},
        policies=tuple(policies),
    )
