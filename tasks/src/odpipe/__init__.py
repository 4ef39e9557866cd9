"""odpipe: an object-detection training pipeline (prepare, train, export-deploy) for Argo Workflows."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("odpipe")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
