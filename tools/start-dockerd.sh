#!/usr/bin/env bash
# Make a Docker Engine available on a machine without one running (this project's CI, a fresh dev box):
# install Debian's docker.io when dockerd is missing, start it as root with no bridge and no iptables
# rules (containers and builds use host networking, so no traffic goes anywhere but loopback and the
# package registries), and wait until it answers. Does nothing when an engine already answers.
set -euo pipefail
if docker info >/dev/null 2>&1; then
  echo "docker engine already running"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "start-dockerd: no docker engine answers and this is not root: start one, or run the tests without (the container tests skip)" >&2
  exit 2
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "installing docker.io (Debian package)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
log=${DOCKERD_LOG:-/var/log/odpipe-dockerd.log}
nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "docker engine $(docker version --format '{{.Server.Version}}') running (log: $log)"; exit 0
  fi
  sleep 1
done
echo "start-dockerd: dockerd did not answer within 60 s; last lines of $log:" >&2
tail -20 "$log" >&2
exit 1
