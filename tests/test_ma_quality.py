"""Issue 16's quality target: a multi-animal network trained within the test budget on
the synthetic mice reaches, on held-out images, a test RMSE after assembly within 2x of
the single-animal demo's test error and mAP >= 0.8, read back from the evaluation files.

One run of ``dlcflow.devtools.maquality.run_quality`` (the code behind
``benchmarks/ma_quality.py``): 3 demo videos x 40 oracle-labeled frames, 80 % for
training (96 train / 24 test images), MobileNetV2-0.35 from scratch, 2,000 iterations in
deterministic mode, with the small-animal pose_cfg settings, evaluated with assembly
calibrated on the training labels. About 10 minutes on 2 cores.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from dlcflow.devtools.maquality import SMALL_ANIMAL_TEST, run_quality
from dlcflow.project.paths import Project
from dlcflow.project.posecfg import read_yaml

#: The single-animal demo's test error (px), the lowest measured (1.64-1.88 px over the
#: demo's runs, ``results/demo/report.txt``): the RMSE bar is twice this.
SINGLE_ANIMAL_TEST_ERROR = 1.64


@pytest.mark.timeout(2400)  # about 10 minutes alone; beside the rest of the suite, more
def test_multi_animal_network_reaches_the_quality_target(tmp_path: Path) -> None:
    run = run_quality(tmp_path / "q", n_videos=3, train_fraction=0.8, deterministic=True)
    assert (run.n_train, run.n_test) == (96, 24)
    project = Project(run.config)
    # the evaluation used the small-animal peak settings written into test/pose_cfg.yaml
    test_cfg = read_yaml(project.pose_cfg(0.8, 1, "test"))
    assert {key: test_cfg[key] for key in SMALL_ANIMAL_TEST} == SMALL_ANIMAL_TEST
    (assembly_csv,) = Path(run.config).parent.rglob("*-assembly-results.csv")
    row = pd.read_csv(assembly_csv).iloc[-1]
    assert math.isclose(row["mAP_test"], run.mAP_test) and math.isclose(
        row["rmse_test"], run.rmse_test
    )
    assert row["calibrated"]  # 96 images x 3 mice: plenty of poses to calibrate on
    assert 0 < run.rmse_test < 2 * SINGLE_ANIMAL_TEST_ERROR, run
    assert run.mAP_test >= 0.8, run
