"""What `make e2e` runs on the cluster of `make cluster`, one module per scenario: umbrella (the README's
`helm install` with argo-helm's chart), manual (Argo's manifests, MinIO's chart and odpipe-workflows
alone); on shared helpers: kube (kubectl, helm, argo, port-forward, S3), charts, data, workflows, serving,
failures, local (odpipe run for the ratio), timing (where the wall time goes) and summary."""
