"""The node: containerd (Debian's 1.6, its CRI plugin, runc, the CNI bridge), the kubelet on cgroup v1
with the cgroupfs driver, and kube-proxy in iptables mode, all inside the cluster's namespace."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from . import components as c
from . import processes as p
from .images import PAUSE_IMAGE, ctr
from .layout import CONTAINERD_SOCK, NET, NODE_NAME, REPO, logs, run_dir, state
from .pki import PKI, kubeconfig

CNI_BIN = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
#: Host sysctls the kubelet sets at start (its "kernel defaults"); `down` puts the old values back.
KUBELET_SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
SAVED_SYSCTLS = state("host-sysctls.json")


def containerd_config() -> Path:
    cni = state("cni")
    _write_cni_config(cni)
    config = state("containerd", "config.toml")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(_containerd_toml(cni))
    return config


def _write_cni_config(cni: Path) -> None:
    """One bridge network for the pods (Debian's CNI plugins), addresses from host-local IPAM."""
    (cni / "net.d").mkdir(parents=True, exist_ok=True)
    (cni / "net.d" / "10-odpipe.conflist").write_text(
        json.dumps(
            {
                "cniVersion": "0.4.0",
                "name": "odpipe",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": "cni0",
                        "isGateway": True,
                        "isDefaultGateway": True,
                        "ipMasq": False,
                        "hairpinMode": True,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": NET.pod_cidr}]],
                            "dataDir": str(cni / "ipam"),
                        },
                    }
                ],
            },
            indent=2,
        )
    )


def _containerd_toml(cni: Path) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{state("containerd", "root")}"
state = "{run_dir("containerd", "state")}"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{CONTAINERD_SOCK}"

[ttrpc]
  address = "{run_dir("containerd", "ttrpc.sock")}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{state("containerd", "opt")}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  enable_selinux = false
  # This machine's root lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj (the kubelet asks
  # -998 for every sandbox), so containerd keeps each score at or above its own.
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{cni / "net.d"}"
"""


def start_containerd() -> None:
    CONTAINERD_SOCK.parent.mkdir(parents=True, exist_ok=True)
    p.start("containerd", ["containerd", f"--config={containerd_config()}"])
    p.wait_for("containerd", lambda: ctr("version").returncode == 0, 60, "containerd")


def _sysctl(name: str) -> str:
    return subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, check=True).stdout.strip()


def save_host_sysctls() -> None:
    if not SAVED_SYSCTLS.exists():
        SAVED_SYSCTLS.write_text(json.dumps({k: _sysctl(k) for k in KUBELET_SYSCTLS}))


def restore_host_sysctls() -> None:
    if SAVED_SYSCTLS.exists():
        for key, value in json.loads(SAVED_SYSCTLS.read_text()).items():
            subprocess.run(["sysctl", "-q", "-w", f"{key}={value}"], check=False, capture_output=True)
        SAVED_SYSCTLS.unlink()


def kubelet_config() -> Path:
    resolv = state("resolv.conf")
    # Pods with dnsPolicy Default (CoreDNS) get this: the node has no upstream resolver.
    resolv.write_text(f"search {NET.cluster_domain}\noptions ndots:1\n")
    config = state("kubelet", "config.yaml")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NET.node_ip}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {PKI / "ca.crt"}}}
authorization:
  mode: Webhook
tlsCertFile: {PKI / "kubelet-serving.crt"}
tlsPrivateKeyFile: {PKI / "kubelet-serving.key"}
# This machine has cgroup v1 and no systemd. 1.34 only warns on cgroup v1; failCgroupV1 (1.31+,
# true by default from 1.35) is set anyway so the choice is explicit.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://{CONTAINERD_SOCK}
clusterDNS: [{NET.dns_ip}]
clusterDomain: {NET.cluster_domain}
resolvConf: {resolv}
podLogsDir: {state("pod-logs")}
# Images cannot be pulled again here (no registry): never garbage-collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
serializeImagePulls: false
maxPods: 64
"""
    )
    return config


def start_kubelet() -> None:
    save_host_sysctls()
    node_kubeconfig = kubeconfig(state("kubeconfigs", "kubelet.conf"), "kubelet")
    root = state("kubelet", "root")
    root.mkdir(parents=True, exist_ok=True)
    state("pod-logs").mkdir(parents=True, exist_ok=True)
    p.start(
        "kubelet",
        [
            str(c.KUBERNETES.binary("kubelet")),
            f"--config={kubelet_config()}",
            f"--kubeconfig={node_kubeconfig}",
            f"--root-dir={root}",
            f"--node-ip={NET.node_ip}",
            f"--hostname-override={NODE_NAME}",
            "--v=1",
        ],
    )


def start_kube_proxy() -> None:
    config = state("kube-proxy", "config.yaml")
    config.parent.mkdir(parents=True, exist_ok=True)
    proxy_kubeconfig = kubeconfig(state("kubeconfigs", "kube-proxy.conf"), "kube-proxy")
    config.write_text(
        f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {proxy_kubeconfig}
mode: iptables
clusterCIDR: {NET.pod_cidr}
hostnameOverride: {NODE_NAME}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["{NET.node_ip}/32"]
# The namespace's conntrack table is the kernel's: leave its global limits as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
"""
    )
    p.start("kube-proxy", [str(c.KUBERNETES.binary("kube-proxy")), f"--config={config}", "--v=1"])


def clean_state() -> None:
    """A fresh node each `up`: the kubelet's and CNI's state go; containerd's image store stays."""
    for path in (state("kubelet"), state("cni"), state("pod-logs")):
        shutil.rmtree(path, ignore_errors=True)


def start_network_policy() -> int:
    """The NetworkPolicy enforcer (e2e/cluster/netpol), a node daemon in the namespace as kube-proxy is.
    Returns where its log stood (a node restart keeps the log): its first load is written after that."""
    log = logs("network-policy")
    offset = log.stat().st_size if log.exists() else 0
    p.start("network-policy", [sys.executable, "-m", "e2e.cluster.netpol"], env={"PYTHONPATH": str(REPO)})
    return offset


def network_policy_loaded(offset: int = 0) -> bool:
    log = logs("network-policy")
    if not log.exists():
        return False
    with log.open("rb") as f:
        f.seek(offset)
        return b"pods isolated" in f.read()
