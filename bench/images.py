"""The task images: size, Python content, torch's share, build times and `--help` start time.

    python -m bench.images [--cold]

Per image: the image size, the size of its Python environment (/opt/venv), and for train and
export-deploy the part that torch and the wheels it requires take (the distributions in torch's
requirement closure, measured from their installed RECORDs inside the image). Goals: prepare's Python
content under 500 MB; train and export-deploy at most 10% above torch's closure. Build times: cached
(a rebuild with nothing changed) and, with --cold, a build without the layer cache (minutes). Start
time: `odpipe <task> --help` in its container (docker run, read-only, uid 10001) against the same
command as a local process in this venv, alternated, median of 5: the ratio is the container's cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASKS = ("prepare", "train", "export-deploy", "serve")

SIZES = r"""
import json, importlib.metadata as md, os, re
def closure(root):
    from packaging.requirements import Requirement
    seen, todo = set(), [(root, frozenset())]
    while todo:
        raw, extras = todo.pop()
        name = re.sub(r"[-_.]+", "-", raw).lower()
        if (name, extras) in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen.add((name, extras))
        for text in dist.requires or []:
            req = Requirement(text)
            envs = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((req.name, frozenset(req.extras)))
    return {name for name, _ in seen}
def size(names):
    total = 0
    for name in names:
        dist = md.distribution(name)
        for f in dist.files or []:
            p = dist.locate_file(f)
            if os.path.isfile(p) and not os.path.islink(p):
                total += os.path.getsize(p)
    return total
venv = 0
for root, dirs, files in os.walk("/opt/venv"):
    venv += sum(os.path.getsize(os.path.join(root, f)) for f in files if not os.path.islink(os.path.join(root, f)))
has_torch = any(d.metadata["Name"] == "torch" for d in md.distributions())
torch = closure("torch") | closure("torchvision") if has_torch else set()
print(json.dumps({"venv": venv, "torch": size(torch), "torch_dists": len(torch)}))
"""


def _images() -> dict[str, str]:
    env = (REPO / ".build/images.env").read_text().splitlines() if (REPO / ".build/images.env").exists() else []
    refs = dict(line.split("=", 1) for line in env if "=" in line)
    return {t: refs[t] for t in TASKS if t in refs}


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True)
    return time.perf_counter() - start


def _build_seconds(task: str, cold: bool) -> float:
    env_file = REPO / ".build/images.env"
    cmd = ["bash", str(REPO / "tools/build-images.sh"), task]
    extra = {"DOCKER_BUILD_ARGS": "--no-cache"} if cold else {}
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, env={**os.environ, **extra})
    lines = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return float(lines[f"{task}_build_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description="task image sizes, build and start times")
    parser.add_argument("--cold", action="store_true", help="also time builds without the layer cache (slow)")
    args = parser.parse_args()
    images = _images()
    if len(images) < len(TASKS):
        print("bench.images: build the images first (make engine && make images)", file=sys.stderr)
        sys.exit(2)
    print("images (MB = 10^6 bytes)")
    print(f"{'image':<40} {'image MB':>9} {'python MB':>10} {'torch MB':>9} {'over torch':>10} "
          f"{'cached s':>9} {'cold s':>7} {'help s':>7} {'local s':>8} {'ratio':>6}")  # fmt: skip
    for task, ref in images.items():
        size = int(_docker("image", "inspect", "--format", "{{.Size}}", ref))
        run = ["docker", "run", "--rm", "--network", "none", "--read-only", "--user", "10001:10001",
               "--tmpfs", "/tmp:mode=1777"]  # fmt: skip
        sizes = json.loads(subprocess.run([*run, "--entrypoint", "python", ref, "-c", SIZES], capture_output=True,
                                          text=True, check=True).stdout)  # fmt: skip
        over = f"{sizes['venv'] / sizes['torch'] - 1:+.1%}" if sizes["torch"] else "-"
        cached = _build_seconds(task, cold=False)
        cold = f"{_build_seconds(task, cold=True):.0f}" if args.cold else "-"
        box, local = [], []
        for _ in range(5):  # alternated, so machine noise hits both alike
            box.append(_timed([*run, ref, task, "--help"]))
            local.append(_timed([str(Path(sys.executable).parent / "odpipe"), task, "--help"]))
        b, loc = statistics.median(box), statistics.median(local)
        print(f"{ref:<40} {size / 1e6:>9.0f} {sizes['venv'] / 1e6:>10.0f} {sizes['torch'] / 1e6:>9.0f} {over:>10} "
              f"{cached:>9.1f} {cold:>7} {b:>7.2f} {loc:>8.2f} {b / loc:>6.2f}")  # fmt: skip
    print("goals: prepare python < 500 MB; train and export-deploy at most +10.0% over torch's closure")


if __name__ == "__main__":
    main()
