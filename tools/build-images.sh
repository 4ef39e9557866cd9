#!/usr/bin/env bash
# Build the task images with docker, podman or buildah (whichever works), all tagged with one version:
# the odpipe package's.
#   tools/build-images.sh [IMAGE ...]       (default: prepare train export-deploy serve)
# Settings (environment):
#   REGISTRY        image name prefix (ghcr.io/odpipe)
#   VARIANT         cpu (default) or cuda, for train and export-deploy
#   PYTHON_IMAGE    base image (python:3.11-slim-bookworm). When it is neither present nor pullable
#                   (air-gapped builders, no registry), a stand-in is built from Debian packages
#                   (tools/build-base-image.sh, `make base-image`) and used instead.
#   CA_BUNDLE       extra CA certificates trusted by pip while building (a TLS-inspecting proxy);
#                   default: the bundle this machine's pip is configured with (`pip config`), if any
#   PIP_MIRROR      auto (default): serve this machine's local pip indexes/find-links to the build over
#                   127.0.0.1 (tools/pip_mirror.py); off: the build uses PyPI (or PIP_INDEX_URL) only
#   TORCH_INDEX_URL where the cpu variant takes torch (the PyTorch CPU index); when unreachable, torch
#                   comes from the package index instead (the CUDA build, larger; it runs on CPU too)
#   DOCKER_BUILD_ARGS extra flags for every build (e.g. --no-cache: bench/images.py --cold)
# Builds run with host networking (no bridge needed) and DOCKER_BUILDKIT=0 (works without buildx).
# Writes .build/images.env (NAME=reference and the build seconds per task) and .build/build-TASK.log.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' tasks/pyproject.toml)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
registry=${REGISTRY:-ghcr.io/odpipe}
variant=${VARIANT:-cpu}
tasks=("$@")
[ ${#tasks[@]} -gt 0 ] || tasks=(prepare train export-deploy serve)
python=${PYTHON:-python3}

engine=""
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then engine=docker
elif command -v podman >/dev/null 2>&1; then engine=podman
elif command -v buildah >/dev/null 2>&1; then engine=buildah
fi
if [ -z "$engine" ]; then
  echo "make images: no container engine available (docker without a running daemon, no podman, no buildah)." >&2
  echo "As root on Debian, tools/start-dockerd.sh installs docker.io and starts it; or build in CI" >&2
  echo "(.github/workflows/ci.yaml)." >&2
  exit 2
fi
build() {
  case $engine in
    docker) DOCKER_BUILDKIT=0 docker build --network host "$@" ;;
    podman) podman build --network host "$@" ;;
    buildah) buildah bud --network host "$@" ;;
  esac
}
have_image() { $engine image inspect "$1" >/dev/null 2>&1; }

base=${PYTHON_IMAGE:-python:3.11-slim-bookworm}
if ! have_image "$base" && ! $engine pull -q "$base" >/dev/null 2>&1; then
  standin=odpipe/python-base:3.11-bookworm
  echo "base image $base cannot be pulled here: using $standin, built from Debian packages"
  [ "$engine" = docker ] || { echo "the Debian stand-in base is built with docker only" >&2; exit 2; }
  tools/build-base-image.sh "$standin"
  base=$standin
fi

mkdir -p .build
ca=${CA_BUNDLE:-${PIP_CERT:-$("$python" -m pip config list 2>/dev/null | sed -n "s/^[^=]*\.cert='\(.*\)'$/\1/p" | head -1)}}
if [ -n "$ca" ] && [ -s "$ca" ]; then cp "$ca" .build/ca-bundle.pem; echo "pip trusts $ca while building"
else : > .build/ca-bundle.pem; fi
# torch's own pins only, so the shared torch layer is rebuilt when torch changes, not when any pin does
grep -iE '^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z-]+|sympy|mpmath|networkx|jinja2|markupsafe|filelock|fsspec|typing.extensions|numpy|pillow|setuptools)==' \
  constraints.txt > .build/torch-constraints.txt

mirror_args=()
if [ "${PIP_MIRROR:-auto}" = auto ]; then
  rm -f .build/pip-mirror.args
  "$python" tools/pip_mirror.py --port-file .build/pip-mirror.args &
  mirror_pid=$!
  trap 'kill $mirror_pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 50); do [ -f .build/pip-mirror.args ] && break; sleep 0.1; done
  while IFS= read -r line; do
    [ -n "$line" ] && mirror_args+=(--build-arg "$line") && echo "pip mirror for the build: $line"
  done < .build/pip-mirror.args
fi
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS; do
  if [ -n "${!var:-}" ]; then mirror_args+=(--build-arg "$var=${!var}"); fi
done

torch_index=${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}
if [ "$variant" = cpu ] && [ -n "$torch_index" ] && \
   ! "$python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=10)" "$torch_index" 2>/dev/null; then
  echo "warning: $torch_index is unreachable: the cpu variant takes torch from the package index (the CUDA build, larger; runs on CPU)" >&2
  torch_index=""
fi

common=(--build-arg PYTHON_IMAGE="$base" --build-arg VERSION="$version" --build-arg REVISION="$revision"
        --build-arg VARIANT="$variant" --build-arg TORCH_INDEX_URL="$torch_index" "${mirror_args[@]}")
touch .build/images.env
for task in "${tasks[@]}"; do
  tag="$version"
  case $task in
    prepare) dockerfile=images/prepare/Dockerfile; extra=() ;;
    train|export-deploy) dockerfile=images/torch/Dockerfile; extra=(--build-arg TASK="$task")
                         [ "$variant" = cpu ] || tag="$version-$variant" ;;
    serve) dockerfile=images/serve/Dockerfile; extra=() ;;
    *) echo "unknown task image $task (prepare, train, export-deploy, serve)" >&2; exit 2 ;;
  esac
  ref="$registry/$task:$tag"
  echo "building $ref with $engine (base $base)"
  start=$(date +%s)
  # shellcheck disable=SC2086 # DOCKER_BUILD_ARGS is a list of flags (e.g. --no-cache)
  build -f "$dockerfile" -t "$ref" ${DOCKER_BUILD_ARGS:-} "${common[@]}" "${extra[@]}" . > .build/build-$task.log 2>&1 || { tail -30 .build/build-$task.log >&2; echo "build of $ref failed; whole log: .build/build-$task.log" >&2; exit 1; }
  seconds=$(( $(date +%s) - start ))
  echo "built $ref in ${seconds}s"
  # keep the other tasks' lines: several builds may share the file
  { grep -vE "^${task}(_build_seconds)?=" .build/images.env || true
    echo "${task}=${ref}"; echo "${task}_build_seconds=${seconds}"; } > ".build/images.env.$$"
  mv ".build/images.env.$$" .build/images.env
done
# a rebuilt tag leaves the previous image dangling (GBs for the torch images): drop ours, only ours
if [ "$engine" != buildah ]; then
  $engine image prune -f --filter "label=io.odpipe.task" --filter "dangling=true" >/dev/null || true
fi

# A cluster of `make cluster` is up: load the new images into its node (skips what is there already).
if [ -e /run/netns/odpipe-cluster ] && [ -x .venv/bin/python ] && [ "$(id -u)" = 0 ]; then
  .venv/bin/python -m e2e.cluster load-images
fi
