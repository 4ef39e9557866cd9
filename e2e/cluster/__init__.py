"""A one-node Kubernetes cluster on this machine, from Go modules, inside a network namespace of its own:
its lifecycle only (nothing here knows a scenario; those live in e2e.scenarios).

`up` runs ordered actions, one job of one module each: layout (where everything lives), components (Go
builds cached by version), images (archives from those binaries, loaded into the node's containerd), netns,
pki (certificates and kubeconfigs), processes (daemons inside the namespace), controlplane (etcd,
apiserver, controllers), node (containerd, kubelet, kube-proxy), addons (storage, CoreDNS) and tools
(kubectl, helm and argo wrappers); `down` undoes all of it.
"""
