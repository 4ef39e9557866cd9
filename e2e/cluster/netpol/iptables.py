"""The compiled rules as iptables: one chain per isolated pod and direction, reached from FORWARD (pod to
pod, bridged through br_netfilter) and INPUT (pod to the node: the API server, after kube-proxy's DNAT).
Traffic the node starts (the kubelet's probes, port-forward) is not filtered, as in most enforcers."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence

from .compile import Match, PodRules

TOP = "ODPIPE-NETPOL"
EGRESS, INGRESS = "ODPIPE-NETPOL-E", "ODPIPE-NETPOL-I"
PREFIX = "ODPIPE-NP-"
#: a packet some rule of the direction being checked allows (kube-proxy uses 0x4000 and 0x8000)
MARK = "0x100000"


def _chain(kind: str, ip: str) -> str:
    return f"{PREFIX}{kind}-{hashlib.sha256(ip.encode()).hexdigest()[:12]}"


def _match_args(match: Match, peer_flag: str) -> list[str]:
    args = [peer_flag, match.cidr] if match.cidr else []
    if match.protocol:
        args += ["-p", match.protocol.lower()]
        if match.ports:
            lo, hi = match.ports
            args += ["--dport", str(lo) if lo == hi else f"{lo}:{hi}"]
    return args


def _pod_chain(chain: str, matches: list[Match], peer_flag: str, comment: str) -> tuple[list[str], list[str]]:
    """(chains declared, rules): each match marks the packet; unmarked at the end, it is dropped."""
    chains, lines = [chain], []
    allow = f"-j MARK --set-xmark {MARK}/{MARK}"
    for i, match in enumerate(matches):
        if match.excepts:
            sub = f"{chain}-{i}"[:28]
            chains.append(sub)
            lines += [f"-A {sub} {peer_flag} {e} -j RETURN" for e in match.excepts]
            lines.append(" ".join(["-A", sub, *_match_args(match, peer_flag), allow]))
            lines.append(f"-A {chain} -j {sub}")
        else:
            lines.append(" ".join(["-A", chain, *_match_args(match, peer_flag), allow]))
    lines.append(f"-A {chain} -m mark --mark {MARK}/{MARK} -j RETURN")
    lines.append(f'-A {chain} -m comment --comment "{comment}" -j DROP')
    return chains, lines


def render(rules: dict[str, PodRules]) -> str:
    """iptables-restore input (--noflush) that replaces every chain of ours at once."""
    chains = [TOP, EGRESS, INGRESS]
    lines = [
        f"-A {TOP} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {TOP} -j MARK --set-xmark 0x0/{MARK}",
        f"-A {TOP} -j {EGRESS}",
        f"-A {TOP} -j MARK --set-xmark 0x0/{MARK}",
        f"-A {TOP} -j {INGRESS}",
    ]
    for ip in sorted(rules):
        entry, who = rules[ip], f"{rules[ip].pod.namespace}/{rules[ip].pod.name}"
        for kind, matches, top, flag, dispatch in (
            ("E", entry.egress, EGRESS, "-d", "-s"),
            ("I", entry.ingress, INGRESS, "-s", "-d"),
        ):
            if matches is None:
                continue
            name = _chain(kind, ip)
            declared, body = _pod_chain(name, matches, flag, f"{who} {'egress' if kind == 'E' else 'ingress'}")
            chains += declared
            lines.append(f"-A {top} {dispatch} {ip}/32 -j {name}")
            lines += body
    return "\n".join(["*filter", *(f":{c} - [0:0]" for c in chains), *lines, "COMMIT", ""])


def _iptables(prefix: Sequence[str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, "iptables", "-w", "5", *args], capture_output=True, text=True, check=check)


def ensure_hooks(pod_cidr: str, prefix: Sequence[str] = ()) -> None:
    """Our chain first in FORWARD and INPUT (kube-proxy's KUBE-FORWARD would otherwise accept first).
    `prefix`: run iptables through it (`ip netns exec NS`); the enforcer itself runs in the namespace."""
    for hook in (["FORWARD"], ["INPUT", "-s", pod_cidr]):
        rule = [*hook[1:], "-j", TOP]
        if _iptables(prefix, "-C", hook[0], *rule, check=False).returncode != 0:
            _iptables(prefix, "-I", hook[0], "1", *rule)


def apply(text: str, prefix: Sequence[str] = ()) -> None:
    """Load the chains, then delete the per-pod chains no rule jumps to any more."""
    restore = [*prefix, "iptables-restore", "-w", "5", "--noflush"]
    subprocess.run(restore, input=text, text=True, check=True, capture_output=True)
    wanted = {line[1:].split()[0] for line in text.splitlines() if line.startswith(":")}
    listed = _iptables(prefix, "-S").stdout.splitlines()
    stale = [line.split()[1] for line in listed if line.startswith(f"-N {PREFIX}") and line.split()[1] not in wanted]
    for chain in stale:
        _iptables(prefix, "-F", chain, check=False)
    for chain in stale:
        _iptables(prefix, "-X", chain, check=False)


def load(text: str, loaded: str, pod_cidr: str, prefix: Sequence[str] = ()) -> None:
    """One round of the enforcer: the chains when they changed, then the hooks (which need the chains,
    and are put back if something flushed FORWARD or INPUT)."""
    if text != loaded:
        apply(text, prefix)
    ensure_hooks(pod_cidr, prefix)
