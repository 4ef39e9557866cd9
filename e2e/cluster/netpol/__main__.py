"""The enforcer's loop: read the API twice a second, and when what the policies allow has changed, load
the new chains at once (iptables-restore). Run inside the cluster's namespace by `make cluster`."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error

from ..layout import NET, state
from . import compile as policy_rules
from . import iptables
from .api import Api
from .model import from_api

IDENTITY = "network-policy"
INTERVAL_S = 0.5


def log(message: str) -> None:
    print(time.strftime("%H:%M:%S ") + message, flush=True)


def main() -> None:
    api = Api(f"https://{NET.node_ip}:{NET.api_port}", state("pki"), IDENTITY)
    loaded, failing = "", False
    while True:
        try:
            cluster = from_api(api.items("pods"), api.items("namespaces"), api.items("networkpolicies"))
        except (urllib.error.URLError, OSError, ValueError) as err:
            if not failing:  # the last chains stay: what was denied stays denied
                log(f"cannot read the API ({err}); keeping the chains loaded")
            failing = True
            time.sleep(INTERVAL_S)
            continue
        failing = False
        rules = policy_rules.compile_rules(cluster)
        text = iptables.render(rules)
        try:
            iptables.load(text, loaded, NET.pod_cidr)
        except subprocess.CalledProcessError as err:
            log(f"iptables failed ({' '.join(err.cmd)}): {err.stderr.strip()}; trying again")
            time.sleep(INTERVAL_S)
            continue
        if text != loaded:
            loaded = text
            isolated = [r.pod for r in rules.values() if r.egress is not None or r.ingress is not None]
            log(
                f"{len(cluster.policies)} policies, {len(isolated)} of {len(rules)} pods isolated: "
                + ", ".join(f"{p.namespace}/{p.name} {p.ip}" for p in isolated)
            )
        time.sleep(INTERVAL_S)


if __name__ == "__main__":
    sys.exit(main())
