"""Make Ultralytics (and onnxruntime, albumentations, matplotlib) work offline, with writable paths
under a scratch folder only, so a read-only root filesystem and a cluster without internet both work.

Call `prepare_offline()` before the first `import ultralytics`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OFFLINE_ENV = {
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "0",
    "ORT_DISABLE_TELEMETRY": "1",
    "NO_ALBUMENTATIONS_UPDATE": "1",
    "MPLBACKEND": "Agg",
}
FONTS = ("Arial.ttf", "Arial.Unicode.ttf")


def scratch_dir() -> Path:
    return Path(os.environ.get("ODPIPE_SCRATCH") or Path(tempfile.gettempdir()) / "odpipe")


def prepare_offline(verbose: bool = False) -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("YOLO_VERBOSE", "true" if verbose else "false")
    scratch = scratch_dir()
    for var, sub in (
        ("YOLO_CONFIG_DIR", "yolo"),
        ("MPLCONFIGDIR", "matplotlib"),
        ("TORCHINDUCTOR_CACHE_DIR", "torchinductor"),
    ):
        if not os.environ.get(var):
            os.environ[var] = str(scratch / sub)
        Path(os.environ[var]).mkdir(parents=True, exist_ok=True)
    seed_fonts(Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics")


def seed_fonts(dest: Path) -> None:
    """Ultralytics fetches Arial.ttf from GitHub for plots and labels even with plots=False; give it
    matplotlib's DejaVuSans under that name instead."""
    if all((dest / f).exists() for f in FONTS):
        return
    baked = os.environ.get("ODPIPE_FONT_FILE")  # the images bake the font in
    if baked and Path(baked).is_file():
        source = Path(baked)
    else:
        import matplotlib

        source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    dest.mkdir(parents=True, exist_ok=True)
    for name in FONTS:
        if not (dest / name).exists():
            shutil.copyfile(source, dest / name)


@contextmanager
def without_training_albumentations() -> Iterator[None]:
    """Ultralytics adds Blur, MedianBlur, ToGray and CLAHE (p=0.01 each) to training wherever
    albumentations happens to be importable. odpipe's augmentation is prepare's, explicit and seeded, and
    albumentations is prepare's dependency, not train's: the import is blocked while training, so a run
    trains the same in the train image, as a local process and in any virtual environment."""
    saved = sys.modules.get("albumentations")
    sys.modules["albumentations"] = None  # type: ignore[assignment]  # `import albumentations` raises ImportError
    try:
        yield
    finally:
        if saved is None:
            del sys.modules["albumentations"]
        else:
            sys.modules["albumentations"] = saved


def import_ultralytics():  # type: ignore[no-untyped-def]
    """Import ultralytics offline, with settings sync (telemetry) off; returns the module."""
    prepare_offline()
    import ultralytics
    from ultralytics.utils import SETTINGS

    if SETTINGS.get("sync"):
        SETTINGS.update(sync=False)
    return ultralytics
