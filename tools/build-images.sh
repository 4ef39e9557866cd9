#!/usr/bin/env bash
# Build the three task images with docker, podman or buildah (whichever works), all tagged with one
# version: the odpipe package's. VARIANT=cuda builds the CUDA variants of train and export-deploy.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' tasks/pyproject.toml)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
registry=${REGISTRY:-ghcr.io/odpipe}
variant=${VARIANT:-cpu}

engine=""
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then engine="docker build"
elif command -v podman >/dev/null 2>&1; then engine="podman build"
elif command -v buildah >/dev/null 2>&1; then engine="buildah bud"
fi
if [ -z "$engine" ]; then
  echo "make images: no container engine available (docker without a running daemon, no podman, no buildah)." >&2
  echo "Install one of them, or build in CI (.github/workflows/ci.yaml). The images' Python content is tested" >&2
  echo "without an engine by tests/test_images.py (each extra in a fresh venv, running its real job)." >&2
  exit 2
fi
for task in prepare train export-deploy; do
  tag="$version"
  if [ "$task" != prepare ] && [ "$variant" != cpu ]; then tag="$version-$variant"; fi
  echo "building $registry/$task:$tag with ${engine%% *}"
  $engine -f "images/$task/Dockerfile" -t "$registry/$task:$tag" \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg VARIANT="$variant" .
done
