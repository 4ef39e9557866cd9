"""odpipe/ultralytics_env.py: what training sees of the optional packages Ultralytics probes for."""

from __future__ import annotations

import pytest
from odpipe.ultralytics_env import prepare_offline, without_training_albumentations


def test_training_blocks_ultralytics_optional_albumentations_and_restores_it() -> None:
    pytest.importorskip("albumentations", reason="the dev environment installs albumentations (prepare's)")
    prepare_offline()
    from ultralytics.data.augment import Albumentations

    assert Albumentations(p=1.0).transform is not None, "with albumentations importable Ultralytics uses it"
    with without_training_albumentations():
        assert Albumentations(p=1.0).transform is None
    assert Albumentations(p=1.0).transform is not None, "the import is restored after training"
