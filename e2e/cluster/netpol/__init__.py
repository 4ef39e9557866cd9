"""A NetworkPolicy enforcer for the one-node cluster: a node daemon (like kube-proxy) that reads pods,
namespaces and NetworkPolicies from the API and keeps iptables chains in the cluster's namespace that
allow only what the policies allow. The real enforcers do not run on this kernel (docs/security.md)."""
