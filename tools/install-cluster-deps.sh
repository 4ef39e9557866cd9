#!/usr/bin/env bash
# What `make cluster` takes from Debian (their versions suffice, see e2e/README.md): containerd
# (CRI built in) with runc, the CNI plugins, busybox-static (the shell of the MinIO images), iptables
# and conntrack (kube-proxy), openssl (the cluster's certificates), iproute2 (its network namespace).
# Installs only what is missing; as root.
set -euo pipefail
need=()
for pair in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
            /bin/busybox:busybox-static iptables:iptables conntrack:conntrack openssl:openssl ip:iproute2 \
            nsenter:util-linux; do
  probe=${pair%%:*}; pkg=${pair#*:}
  if [[ $probe == /* ]]; then [ -e "$probe" ] || need+=("$pkg"); else command -v "$probe" >/dev/null || need+=("$pkg"); fi
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "make cluster needs root to install: ${need[*]}" >&2; exit 2; }
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "make cluster builds its components with Go (1.26 here): go is not on PATH" >&2; exit 2; }
