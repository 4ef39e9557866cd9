"""`odpipe prepare`: its flags; the step is odpipe.prepare.run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from odpipe.cli.app import DataOpt, InputsOpt, OutputsOpt, fail
from odpipe.cli.checks import CredentialsFromOpt, MemoCacheOpt, SweepPicturesOpt
from odpipe.common.errors import OdpipeError


def prepare(
    annotations: Annotated[
        str | None,
        typer.Option(help="COCO instances JSON: a path or s3://bucket/key [default: inputs/annotations.json]."),
    ] = None,
    annotations_key: Annotated[
        str | None,
        typer.Option(help="The COCO instances JSON at this key of the datasets bucket ($ODPIPE_DATASETS_BUCKET)."),
    ] = None,
    images: Annotated[
        str | None,
        typer.Option(
            help="Images: a folder or s3://bucket/prefix (synced into <data>/raw incrementally).",
            rich_help_panel="Images",
        ),
    ] = None,
    images_prefix: Annotated[
        str | None,
        typer.Option(
            help="Images under this prefix of the datasets bucket ($ODPIPE_DATASETS_BUCKET); empty = unset.",
            rich_help_panel="Images",
        ),
    ] = None,
    images_path: Annotated[
        str | None,
        typer.Option(help="Images at this path relative to the data volume; empty = unset.", rich_help_panel="Images"),
    ] = None,
    val_annotations: Annotated[
        str | None,
        typer.Option(help="A second COCO file for the val split (the first is then train).", rich_help_panel="Split"),
    ] = None,
    test_annotations: Annotated[
        str | None, typer.Option(help="A COCO file for a test split.", rich_help_panel="Split")
    ] = None,
    val_list: Annotated[
        Path | None,
        typer.Option(
            help="Split file: images (id, file name or stem, one per line) that go to val.", rich_help_panel="Split"
        ),
    ] = None,
    val_fraction: Annotated[
        float,
        typer.Option(
            min=0.0, max=0.95, help="Fraction of images for val when no split is given.", rich_help_panel="Split"
        ),
    ] = 0.2,
    seed: Annotated[
        int, typer.Option(help="Seed of the split, background choice and augmentation.", rich_help_panel="Split")
    ] = 0,
    background_ratio: Annotated[
        float,
        typer.Option(min=0.0, help="Images without boxes kept as background, as a fraction of the images with boxes."),
    ] = 0.1,
    bbox_tolerance: Annotated[
        float,
        typer.Option(
            min=0.0, help="Boxes outside the image by up to this fraction of its size are clipped; beyond, dropped."
        ),
    ] = 0.02,
    strict: Annotated[bool, typer.Option(envvar="ODPIPE_STRICT", help="Turn every warning into an error.")] = False,
    link_mode: Annotated[
        str, typer.Option(help="How images enter the dataset: hardlink (falls back to copy), symlink or copy.")
    ] = "hardlink",
    augment: Annotated[
        Path | None, typer.Option(help="Albumentations config (YAML) for offline augmentation of the train split.")
    ] = None,
    full_decode: Annotated[
        bool, typer.Option(help="Decode every image fully (slow) instead of checking headers and end markers.")
    ] = False,
    crowd_as_target: Annotated[
        bool,
        typer.Option(
            help="Train on iscrowd=1 boxes too (as Roboflow exports do); by default they are kept for evaluation only."
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Processes that check images and write labels; 0: as many as the container's CPU limit (cgroup).",
        ),
    ] = 0,
    check_inputs: Annotated[
        bool,
        typer.Option(
            "--check-inputs",
            help="Before reading anything, check S3, the credentials, the three buckets, --annotations-key and "
            "--images-prefix as `odpipe check-inputs` does (the pipeline's first act).",
            rich_help_panel="check-inputs",
        ),
    ] = False,
    credentials_from: CredentialsFromOpt = "",
    memo_cache: MemoCacheOpt = "",
    sweep_report_pictures_after: SweepPicturesOpt = None,
    inputs_dir: InputsOpt = None,
    outputs_dir: OutputsOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Validate COCO instances + images and write a versioned YOLO dataset to <data>/datasets/<id>.

    Outputs dataset.json and report.json; output parameter dataset-id. Bad annotations are dropped with a
    warning; the run fails when the input is not COCO instances or nothing trainable remains.
    """
    from odpipe.formats import contract
    from odpipe.formats.contract import Layout

    if link_mode not in ("hardlink", "symlink", "copy"):
        raise typer.BadParameter("must be hardlink, symlink or copy", param_hint="--link-mode")
    layout = Layout.resolve(inputs_dir, outputs_dir, data_dir)
    if annotations_key:
        if annotations:
            raise typer.BadParameter("give --annotations or this, not both", param_hint="--annotations-key")
        annotations = _in_datasets_bucket(annotations_key)
    elif check_inputs:
        raise typer.BadParameter("checks the annotations in the datasets bucket: give --annotations-key",
                                 param_hint="--check-inputs")  # fmt: skip
    images = _images(images, images_prefix, images_path, layout.data)
    try:
        from odpipe.prepare.run import PrepareOptions
        from odpipe.prepare.run import run as run_prepare

        checks = None
        if check_inputs:
            from odpipe.check_inputs.checks import CREDENTIALS_FROM_ENV
            from odpipe.check_inputs.run import CheckOptions

            checks = CheckOptions(str(annotations_key), images_prefix or "", credentials_from or CREDENTIALS_FROM_ENV,
                                  memo_cache, sweep_pictures_after=sweep_report_pictures_after)  # fmt: skip
        opts = PrepareOptions(
            annotations=annotations or str(layout.input(contract.ANNOTATIONS)),
            images=images,
            val_annotations=val_annotations,
            test_annotations=test_annotations,
            val_list=val_list,
            val_fraction=val_fraction,
            seed=seed,
            background_ratio=background_ratio,
            bbox_tolerance=bbox_tolerance,
            strict=strict,
            link_mode=link_mode,  # type: ignore[arg-type]
            augment=augment,
            full_decode=full_decode,
            crowd_as_target=crowd_as_target,
            workers=workers,
            checks=checks,
        )
        result = run_prepare(opts, layout)
    except OdpipeError as exc:
        fail(exc)
        return
    from odpipe.prepare.summary import print_summary

    print_summary(result)


def _in_datasets_bucket(key: str) -> str:
    from odpipe.common.storage import Buckets, S3Uri

    return str(S3Uri(Buckets.from_env().datasets, key.strip("/")))


def _images(images: str | None, prefix: str | None, path: str | None, data: Path) -> str:
    """The one images location given: a folder or S3 URI, a prefix of the datasets bucket, a volume path."""
    if len([x for x in (images, prefix, path) if x]) != 1:
        raise typer.BadParameter("give exactly one of --images, --images-prefix, --images-path", param_hint="--images")
    if prefix:
        return _in_datasets_bucket(prefix)
    if path:
        import os.path

        rel = os.path.normpath(path.lstrip("/"))  # lexically: a link on the volume may point elsewhere
        if rel == ".." or rel.startswith("../"):
            raise typer.BadParameter(f"{path!r} leaves the data volume", param_hint="--images-path")
        return str(data / rel)
    assert images is not None
    return images
