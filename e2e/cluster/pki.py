"""The cluster's certificates (one CA, openssl, EC P-256) and kubeconfigs, made anew on each `up`."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .layout import NET, NODE_NAME, state

PKI = state("pki")


@dataclass(frozen=True)
class Identity:
    name: str
    subject: str
    #: subjectAltName for serving certificates ("" for client certificates)
    san: str = ""


def _ssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _key(path: Path) -> None:
    _ssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    path.chmod(0o600)


def identities() -> list[Identity]:
    api_sans = ",".join(
        [
            f"IP:{NET.api_service_ip}",
            f"IP:{NET.node_ip}",
            "IP:127.0.0.1",
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            f"DNS:kubernetes.default.svc.{NET.cluster_domain}",
        ]
    )
    return [
        Identity("apiserver", "/CN=kube-apiserver", api_sans),
        Identity("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client"),
        Identity("admin", "/O=system:masters/CN=odpipe-admin"),
        Identity("controller-manager", "/CN=system:kube-controller-manager"),
        Identity("scheduler", "/CN=system:kube-scheduler"),
        Identity("kubelet", f"/O=system:nodes/CN=system:node:{NODE_NAME}"),
        Identity("kubelet-serving", f"/CN={NODE_NAME}", f"IP:{NET.node_ip},DNS:{NODE_NAME}"),
        Identity("kube-proxy", "/CN=system:kube-proxy"),
        Identity("network-policy", "/CN=odpipe:network-policy"),
    ]


def make_pki() -> Path:
    PKI.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = PKI / "ca.key", PKI / "ca.crt"
    _key(ca_key)
    _ssl("req", "-x509", "-new", "-key", str(ca_key), "-subj", "/CN=odpipe-cluster-ca", "-days", "30",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-out", str(ca_crt))  # fmt: skip
    for ident in identities():
        key, csr, crt = (PKI / f"{ident.name}.{ext}" for ext in ("key", "csr", "crt"))
        _key(key)
        _ssl("req", "-new", "-key", str(key), "-subj", ident.subject, "-out", str(csr))
        ext = PKI / f"{ident.name}.ext"
        usage = "serverAuth" if ident.san else "clientAuth"
        lines = [
            "basicConstraints=CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            f"extendedKeyUsage={usage}",
        ]
        if ident.san:
            lines.append(f"subjectAltName={ident.san}")
        ext.write_text("\n".join(lines) + "\n")
        _ssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
             "-days", "30", "-extfile", str(ext), "-out", str(crt))  # fmt: skip
        csr.unlink()
        ext.unlink()
    # The service-account token signing key pair.
    _key(PKI / "sa.key")
    _ssl("pkey", "-in", str(PKI / "sa.key"), "-pubout", "-out", str(PKI / "sa.pub"))
    return PKI


def kubeconfig(path: Path, identity: str, server: str | None = None) -> Path:
    server = server or f"https://{NET.node_ip}:{NET.api_port}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
  - name: odpipe
    cluster:
      server: {server}
      certificate-authority: {PKI / "ca.crt"}
users:
  - name: {identity}
    user:
      client-certificate: {PKI / f"{identity}.crt"}
      client-key: {PKI / f"{identity}.key"}
contexts:
  - name: odpipe
    context:
      cluster: odpipe
      user: {identity}
current-context: odpipe
"""
    )
    path.chmod(0o600)
    return path
