"""NetworkPolicy semantics (networking.k8s.io/v1) reduced to what each pod may send and receive: for every
pod a policy isolates in a direction, the list of matches one of which a new connection must meet."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .model import Cluster, Json, Pod, selects


@dataclass(frozen=True)
class Match:
    """A peer (a CIDR, minus its exceptions; None: any address) and a port range of a protocol (None: any)."""

    cidr: str | None = None
    excepts: tuple[str, ...] = ()
    protocol: str | None = None
    ports: tuple[int, int] | None = None

    def meets(self, peer_ip: str, protocol: str, port: int) -> bool:
        addr = ipaddress.ip_address(peer_ip)
        if self.cidr is not None and addr not in ipaddress.ip_network(self.cidr, strict=False):
            return False
        if any(addr in ipaddress.ip_network(e, strict=False) for e in self.excepts):
            return False
        if self.protocol is not None and self.protocol != protocol:
            return False
        return self.ports is None or self.ports[0] <= port <= self.ports[1]


@dataclass
class PodRules:
    """None: the direction is not isolated (everything passes); a list: only what one match allows."""

    pod: Pod
    egress: list[Match] | None = None
    ingress: list[Match] | None = None


def _policy_types(spec: Json) -> list[str]:
    return spec.get("policyTypes") or ["Ingress", *(["Egress"] if "egress" in spec else [])]


def _peer_pods(cluster: Cluster, namespace: str, peer: Json) -> list[Pod]:
    if "namespaceSelector" in peer:
        spaces = {ns for ns, labels in cluster.namespaces.items() if selects(peer["namespaceSelector"], labels)}
    else:
        spaces = {namespace}
    return [p for p in cluster.pods if p.namespace in spaces and selects(peer.get("podSelector"), p.labels)]


@dataclass(frozen=True)
class _Peer:
    cidr: str | None
    excepts: tuple[str, ...] = ()
    pod: Pod | None = None


def _peers(cluster: Cluster, namespace: str, peers: list[Json] | None) -> list[_Peer]:
    if not peers:  # no from/to: every source or destination
        return [_Peer(None)]
    out: list[_Peer] = []
    for peer in peers:
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            out.append(_Peer(block["cidr"], tuple(block.get("except") or ())))
        else:
            out.extend(_Peer(f"{p.ip}/32", pod=p) for p in _peer_pods(cluster, namespace, peer))
    return out


def _port_ranges(entry: Json, named_on: list[Pod]) -> list[tuple[str, tuple[int, int] | None, Pod | None]]:
    """A rule's port entry as (protocol, range, the pod a named port was found on)."""
    protocol = entry.get("protocol", "TCP")
    port = entry.get("port")
    if port is None:
        return [(protocol, None, None)]
    if isinstance(port, int):
        return [(protocol, (port, int(entry.get("endPort", port))), None)]
    return [
        (protocol, (number, number), pod)
        for pod in named_on
        if (found := pod.named_ports.get(port)) is not None and found[0] == protocol
        for number in [found[1]]
    ]


def _rule_matches(cluster: Cluster, namespace: str, rule: Json, peers_key: str, subject: Pod) -> list[Match]:
    """One ingress or egress rule of a policy that selects `subject`."""
    peers = _peers(cluster, namespace, rule.get(peers_key))
    entries = rule.get("ports") or [None]
    matches: list[Match] = []
    for entry in entries:
        if entry is None:
            matches.extend(Match(p.cidr, p.excepts) for p in peers)
            continue
        if peers_key == "from":  # a named port is the subject's own (the destination)
            for protocol, ports, _ in _port_ranges(entry, [subject]):
                matches.extend(Match(p.cidr, p.excepts, protocol, ports) for p in peers)
            continue
        for peer in peers:  # egress: a named port is the destination pod's
            within = Match(peer.cidr, peer.excepts)
            candidates = [peer.pod] if peer.pod else [p for p in cluster.pods if within.meets(p.ip, "", 0)]
            for protocol, ports, on in _port_ranges(entry, candidates):
                cidr = f"{on.ip}/32" if on is not None else peer.cidr
                matches.append(Match(cidr, peer.excepts if on is None else (), protocol, ports))
    return matches


def compile_rules(cluster: Cluster) -> dict[str, PodRules]:
    """Every pod's rules, keyed by its address."""
    rules = {p.ip: PodRules(p) for p in cluster.pods}
    for policy in cluster.policies:
        namespace, spec = policy["metadata"]["namespace"], policy.get("spec") or {}
        types = _policy_types(spec)
        for pod in cluster.pods:
            if pod.namespace != namespace or not selects(spec.get("podSelector"), pod.labels):
                continue
            entry = rules[pod.ip]
            if "Egress" in types:
                entry.egress = entry.egress or []
                for rule in spec.get("egress") or []:
                    entry.egress.extend(_rule_matches(cluster, namespace, rule, "to", pod))
            if "Ingress" in types:
                entry.ingress = entry.ingress or []
                for rule in spec.get("ingress") or []:
                    entry.ingress.extend(_rule_matches(cluster, namespace, rule, "from", pod))
    return rules


def allows(rules: dict[str, PodRules], src: str, dst: str, protocol: str, port: int) -> bool:
    """Whether a new connection from `src` to `dst`:`port` passes: the sender's egress, then the
    receiver's ingress. Addresses that are no pod's (the node, outside) are never isolated."""
    sender, receiver = rules.get(src), rules.get(dst)
    out_ok = sender is None or sender.egress is None or any(m.meets(dst, protocol, port) for m in sender.egress)
    in_ok = receiver is None or receiver.ingress is None or any(m.meets(src, protocol, port) for m in receiver.ingress)
    return out_ok and in_ok
