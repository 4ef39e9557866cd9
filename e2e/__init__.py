"""odpipe's end-to-end test bed: a one-node Kubernetes cluster built here from Go modules (cluster/)."""
