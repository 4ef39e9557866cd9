"""export-deploy: ONNX export, parity checks, quality gate, versioned model repository in S3."""
