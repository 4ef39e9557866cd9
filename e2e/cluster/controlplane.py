"""etcd (built from its module), kube-apiserver, kube-controller-manager and kube-scheduler, as processes in the
cluster's namespace. Flags follow kubernetes' hack/local-up-cluster.sh for one host."""

from __future__ import annotations

import shutil
import ssl
import urllib.request

from . import components as c
from . import processes as p
from .layout import NET, state
from .pki import PKI, kubeconfig

ETCD_URL = "http://127.0.0.1:2379"


def _get(url: str, *, tls: bool = False, self_signed: bool = False) -> bool:
    context = None
    if self_signed:  # the controller-manager's and scheduler's own serving certificates, on loopback
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    elif tls:
        context = ssl.create_default_context(cafile=str(PKI / "ca.crt"))
        context.load_cert_chain(str(PKI / "admin.crt"), str(PKI / "admin.key"))
    with urllib.request.urlopen(url, timeout=3, context=context) as resp:
        return bool(resp.status == 200)


def start_etcd(keep: bool = False) -> None:
    """etcd starts empty unless `keep` (a node's restart keeps its data)."""
    data = state("etcd")
    if not keep:
        shutil.rmtree(data, ignore_errors=True)
    p.start(
        "etcd",
        [
            str(c.ETCD.binary("etcd")), "--name=odpipe", f"--data-dir={data}",
            f"--listen-client-urls={ETCD_URL}", f"--advertise-client-urls={ETCD_URL}",
            "--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
            "--initial-cluster=odpipe=http://127.0.0.1:2380", "--quota-backend-bytes=2147483648",
            "--snapshot-count=10000",
        ],
    )  # fmt: skip
    p.wait_for("etcd", lambda: _get(f"{ETCD_URL}/health"), 60, "etcd")


def start_apiserver() -> None:
    k8s = c.KUBERNETES.binary
    p.start(
        "kube-apiserver",
        [
            str(k8s("kube-apiserver")),
            f"--etcd-servers={ETCD_URL}",
            "--bind-address=0.0.0.0",  # inside the namespace: its loopback, the node address and cni0 only
            f"--secure-port={NET.api_port}",
            f"--advertise-address={NET.node_ip}",
            f"--service-cluster-ip-range={NET.service_cidr}",
            f"--client-ca-file={PKI / 'ca.crt'}",
            f"--tls-cert-file={PKI / 'apiserver.crt'}",
            f"--tls-private-key-file={PKI / 'apiserver.key'}",
            f"--kubelet-client-certificate={PKI / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={PKI / 'apiserver-kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-key-file={PKI / 'sa.pub'}",
            f"--service-account-signing-key-file={PKI / 'sa.key'}",
            f"--service-account-issuer=https://kubernetes.default.svc.{NET.cluster_domain}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--profiling=false",
            "--v=1",
        ],
    )
    p.wait_for(
        "kube-apiserver", lambda: _get(f"https://127.0.0.1:{NET.api_port}/readyz", tls=True), 120, "kube-apiserver"
    )


def _controller_flags(name: str, identity: str) -> list[str]:
    """What the controller-manager and the scheduler share: their kubeconfig, loopback, no election."""
    config = kubeconfig(state("kubeconfigs", f"{identity}.conf"), identity)
    return [
        str(c.KUBERNETES.binary(name)),
        f"--kubeconfig={config}",
        f"--authentication-kubeconfig={config}",
        f"--authorization-kubeconfig={config}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        "--profiling=false",
        "--v=1",
    ]


def start_controllers() -> None:
    p.start(
        "kube-controller-manager",
        [
            *_controller_flags("kube-controller-manager", "controller-manager"),
            f"--service-account-private-key-file={PKI / 'sa.key'}",
            f"--root-ca-file={PKI / 'ca.crt'}",
            f"--cluster-signing-cert-file={PKI / 'ca.crt'}",
            f"--cluster-signing-key-file={PKI / 'ca.key'}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={NET.service_cidr}",
        ],
    )
    p.start("kube-scheduler", _controller_flags("kube-scheduler", "scheduler"))
    for name, port in (("kube-controller-manager", 10257), ("kube-scheduler", 10259)):
        p.wait_for(name, lambda port=port: _get(f"https://127.0.0.1:{port}/healthz", self_signed=True), 90, name)
