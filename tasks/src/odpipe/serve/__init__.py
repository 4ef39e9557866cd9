"""`odpipe serve`: the deployed models, live over the Open Inference Protocol (KServe v2 REST).

kserve's REST server speaks the protocol; odpipe adds the model (onnxruntime plus the letterbox, decode
and NMS export-deploy's parity check uses), Triton's version policy over the S3 model repository with
hot swaps, and the operational limits (body size, concurrency, metrics, graceful shutdown).
"""

import sys as _sys

# kserve parses sys.argv when kserve.model_server is imported (its own flags); odpipe's flags are not
# its business, so it sees an empty command line.
_argv, _sys.argv = _sys.argv, _sys.argv[:1]
try:
    import kserve.model_server  # noqa: F401
finally:
    _sys.argv = _argv
