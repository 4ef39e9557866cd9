"""A one-node Kubernetes cluster on this machine, from Go modules, inside a network namespace of its own.

One job a module: layout (where everything lives), components (Go builds cached by version),
images (OCI archives from those binaries, loaded into the node's containerd), pki (certificates and
kubeconfigs), processes (daemons inside the namespace), controlplane, node, addons, down, and
userpath (the README's path on the running cluster: `make e2e`) with its clients, workflows, serving
and summary.
"""
