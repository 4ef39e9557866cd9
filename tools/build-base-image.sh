#!/usr/bin/env bash
# Build a stand-in for python:3.11-slim-bookworm from Debian packages, for builders that cannot pull
# public base images (air-gapped, or no registry at all). Same distribution (bookworm), same Python
# minor version (Debian's python3 3.11), `python` on PATH, CA certificates, venv support.
#   tools/build-base-image.sh [TAG]      (default odpipe/python-base:3.11-bookworm)
# Needs root, debootstrap (installed from Debian when missing) and a Debian mirror: DEBIAN_MIRROR, else
# the first one apt is configured with. The result is cached: an existing tag is kept unless FORCE=1.
set -euo pipefail
tag=${1:-odpipe/python-base:3.11-bookworm}
if [ "${FORCE:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag exists (FORCE=1 rebuilds it)"; exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-base-image: debootstrap needs root" >&2; exit 2; }
if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(grep -rhoE '^(URIs:|deb) +[a-z]+://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -oE '[a-z]+://[^ ]+' | head -1 || true)
fi
[ -n "$mirror" ] || { echo "build-base-image: no Debian mirror found; set DEBIAN_MIRROR" >&2; exit 2; }
root=$(mktemp -d /var/tmp/odpipe-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm from $mirror"
debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
  bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# what python:slim leaves out too: apt lists, docs, man pages, caches
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
  "$root"/usr/share/locale/* "$root"/var/log/*
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "odpipe: Debian bookworm minbase + python3 (stand-in for python:3.11-slim-bookworm)" \
  - "$tag" >/dev/null
echo "base image $tag: $(docker run --rm --network none "$tag" python --version)"
