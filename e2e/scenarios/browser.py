"""What a person sees of a report in a browser, checked by a browser: headless Chromium loads the page in
a same-origin frame beside a small script page (served without a policy, so its script runs while the
report keeps its own) that counts the pictures: every <img> must have loaded (naturalWidth > 0) and
every SVG chart be there. Used on the reports served with Argo's artifact policy, offline and through
argo-server on the cluster."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import escape
from pathlib import Path
from typing import Any

#: What Argo's artifact server (v4.0.5, server/artifacts/artifact_server.go) sends with every artifact
#: unless ARGO_ARTIFACT_CONTENT_SECURITY_POLICY is set: no script, no data: image, pictures same-origin only.
ARGO_ARTIFACT_CSP = (
    "sandbox allow-same-origin; base-uri 'none'; default-src 'none'; img-src 'self'; style-src 'self' 'unsafe-inline'"
)
#: Where the checking page is served, beside the report (same origin), without a policy.
CHECK_PATH = "/__odpipe-picture-check.html"
_RESULT = re.compile(r'<pre id="result">(.*?)</pre>', re.DOTALL)


def check_page(src: str) -> str:
    """The checking page for a report at `src` (a same-origin path)."""
    return f"""<!DOCTYPE html><html><head><title>picture check</title></head><body>
<pre id="result">pending</pre>
<iframe id="report" src="{escape(src)}" width="1280" height="3000"></iframe>
<script>
const frame = document.getElementById("report");
frame.addEventListener("load", () => setTimeout(() => {{
  const doc = frame.contentDocument;
  const images = [...doc.images];
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute("src"));
  document.getElementById("result").textContent = JSON.stringify({{
    title: doc.title, images: images.length, broken: broken, svgs: doc.querySelectorAll("svg").length,
  }});
}}, 1000));
</script></body></html>"""


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError("chromium is not installed (Debian's package `chromium`; tools/install-chromium.sh)")
    return found


def _flags(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars",
            f"--user-data-dir={profile}"]  # fmt: skip


def count_pictures(check_url: str, profile: Path) -> dict[str, Any]:
    """Load the checking page (CHECK_PATH?src=...) and return what it counted."""
    proc = subprocess.run(
        [chromium(), *_flags(profile), "--virtual-time-budget=15000", "--dump-dom", check_url],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    found = _RESULT.search(proc.stdout)
    if proc.returncode != 0 or not found or found.group(1) == "pending":
        raise RuntimeError(f"the picture check did not run ({proc.returncode}): {proc.stderr[-1500:]}")
    return dict(json.loads(found.group(1)))


def screenshot(url: str, shot: Path, profile: Path, size: str = "1280,2400") -> list[str]:
    """A PNG of the page; returns the console lines Chromium logged (a blocked picture logs one)."""
    flags = [*_flags(profile), f"--screenshot={shot}", f"--window-size={size}", "--enable-logging=stderr", "--v=0"]
    proc = subprocess.run([chromium(), *flags, url], capture_output=True, text=True, timeout=180, check=False)
    if proc.returncode != 0 or not shot.exists():
        raise RuntimeError(f"no screenshot of {url}: {proc.stderr[-1500:]}")
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
