"""What a one-node cluster needs beyond its processes: CoreDNS (a Deployment of the image built here,
answering for cluster.local only: there is no upstream to forward to) and local PersistentVolumes
behind a default StorageClass (kubelet applies fsGroup to `local` volumes, unlike hostPath). Binding
is Immediate: with WaitForFirstConsumer, `helm install --wait` waits forever for the datasets PVC,
which only a workflow consumes (helm/helm#10196)."""

from __future__ import annotations

import shutil
import subprocess

from . import components as c
from .layout import NET, NODE_NAME, state

VOLUMES = state("volumes")
VOLUME_COUNT = 8
STORAGE_CLASS = "odpipe-local"


def coredns_manifest() -> str:
    """CoreDNS for cluster.local only (no upstream to forward to): its RBAC and Corefile, then its
    Deployment and the kube-dns Service."""
    return "---\n".join((_coredns_rbac_and_config(), _coredns_deployment(), _kube_dns_service()))


def _coredns_rbac_and_config() -> str:
    return f"""apiVersion: v1
kind: ServiceAccount
metadata: {{name: coredns, namespace: kube-system}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "system:coredns"}}
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "system:coredns"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}}
subjects: [{{kind: ServiceAccount, name: coredns, namespace: kube-system}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: coredns, namespace: kube-system}}
data:
  Corefile: |
    .:53 {{
        errors
        health :8080 {{
            lameduck 5s
        }}
        ready :8181
        kubernetes {NET.cluster_domain} in-addr.arpa ip6.arpa {{
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }}
        cache 30
        loadbalance
    }}
"""


def _coredns_deployment() -> str:
    image = f"registry.k8s.io/coredns/coredns:{c.COREDNS.version}"
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: coredns, namespace: kube-system, labels: {{k8s-app: kube-dns}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{k8s-app: kube-dns}}}}
  template:
    metadata: {{labels: {{k8s-app: kube-dns}}}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile: {{type: RuntimeDefault}}
        # Port 53 in the pod, as kubeadm's and kind's CoreDNS: a NetworkPolicy's port is the pod's, so
        # policies allowing DNS on 53 hold only where DNS listens there. Non-root binds it through this
        # namespaced, safe sysctl (the image here carries no file capability).
        sysctls: [{{name: net.ipv4.ip_unprivileged_port_start, value: "53"}}]
      containers:
        - name: coredns
          image: {image}
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile]
          ports:
            - {{name: dns, containerPort: 53, protocol: UDP}}
            - {{name: dns-tcp, containerPort: 53, protocol: TCP}}
          resources:
            requests: {{cpu: 50m, memory: 32Mi}}
            limits: {{memory: 128Mi}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {{drop: [ALL]}}
          readinessProbe:
            httpGet: {{path: /ready, port: 8181}}
          livenessProbe:
            httpGet: {{path: /health, port: 8080}}
          volumeMounts:
            - {{name: config, mountPath: /etc/coredns, readOnly: true}}
      volumes:
        - name: config
          configMap: {{name: coredns}}
"""


def _kube_dns_service() -> str:
    return f"""apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {{k8s-app: kube-dns}}
spec:
  clusterIP: {NET.dns_ip}
  selector: {{k8s-app: kube-dns}}
  ports:
    - {{name: dns, port: 53, targetPort: 53, protocol: UDP}}
    - {{name: dns-tcp, port: 53, targetPort: 53, protocol: TCP}}
"""


def storage_manifest() -> str:
    docs = [
        f"""apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {STORAGE_CLASS}
  annotations: {{storageclass.kubernetes.io/is-default-class: "true"}}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
"""
    ]
    for i in range(VOLUME_COUNT):
        docs.append(
            f"""apiVersion: v1
kind: PersistentVolume
metadata: {{name: {STORAGE_CLASS}-{i}}}
spec:
  capacity: {{storage: 100Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: {STORAGE_CLASS}
  local: {{path: {VOLUMES / f"pv-{i}"}}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [{NODE_NAME}]}}]
"""
        )
    return "---\n".join(docs)


def make_volumes() -> None:
    shutil.rmtree(VOLUMES, ignore_errors=True)
    for i in range(VOLUME_COUNT):
        (VOLUMES / f"pv-{i}").mkdir(parents=True)


def network_policy_rbac() -> str:
    """What the NetworkPolicy enforcer reads, and nothing else."""
    return """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "odpipe:network-policy"}
rules:
  - apiGroups: [""]
    resources: [pods, namespaces]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [networkpolicies]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "odpipe:network-policy"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "odpipe:network-policy"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "odpipe:network-policy"}]
"""


def apply(kubectl: list[str], manifest: str) -> None:
    subprocess.run([*kubectl, "apply", "-f", "-"], input=manifest, text=True, check=True, capture_output=True)
