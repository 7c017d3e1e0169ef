"""pose_cfg.yaml (train and test) and inference_cfg.yaml, with DLC 2.3's keys and defaults.

DLC writes the train pose_cfg from its template ``deeplabcut/pose_cfg.yaml`` and fills
the remaining keys at load time from ``pose_estimation_tensorflow/default_config.py`` (and
a few more inside its imgaug loader). dlcflow writes all of them into the file, so that
what trains is what the file says; DLC reads the file unchanged. Keys are sorted, as
PyYAML's ``dump`` writes them in DLC.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from dlcflow.core.fileio import atomic_write_text

NET_TYPES: tuple[str, ...] = (
    "resnet_50",
    "resnet_101",
    "resnet_152",
    "mobilenet_v2_1.0",
    "mobilenet_v2_0.75",
    "mobilenet_v2_0.5",
    "mobilenet_v2_0.35",
    *(f"efficientnet-b{i}" for i in range(7)),
)
MULTI_NET_TYPES: tuple[str, ...] = (*NET_TYPES, "dlcrnet_ms5")
AUGMENTER_TYPES: tuple[str, ...] = ("default", "scalecrop", "imgaug", "tensorpack", "deterministic")
MULTI_AUGMENTER = "multi-animal-imgaug"
INIT_WEIGHTS_KEYWORDS = ("imagenet", "none")
# Keys the dataset builder derives from the project (not user-settable overrides).
DERIVED_KEYS: tuple[str, ...] = (
    "dataset",
    "metadataset",
    "num_joints",
    "all_joints",
    "all_joints_names",
    "project_path",
    "net_type",
    "init_weights",
    "dataset_type",
)

# Values of DLC 2.3's pose_cfg.yaml template (its placeholders are always replaced).
TEMPLATE: dict[str, Any] = {
    "pos_dist_thresh": 17,
    "global_scale": 0.8,
    "dataset_type": "imgaug",
    "batch_size": 1,
    "apply_prob": 0.5,
    "pre_resize": [],
    "crop_size": [400, 400],
    "max_shift": 0.4,
    "crop_sampling": "hybrid",
    "cropratio": 0.4,
    "rotation": 25,
    "rotratio": 0.4,
    "scale_jitter_lo": 0.5,
    "scale_jitter_up": 1.25,
    "mirror": False,
    "contrast": {"clahe": True, "claheratio": 0.1, "histeq": True, "histeqratio": 0.1},
    "convolution": {
        "sharpen": False,
        "sharpenratio": 0.3,
        "edge": False,
        "emboss": {"alpha": [0.0, 1.0], "strength": [0.5, 1.5]},
        "embossratio": 0.1,
    },
    "net_type": "resnet_50",
    "multi_stage": False,
    "location_refinement": True,
    "locref_huber_loss": True,
    "locref_loss_weight": 0.05,
    "locref_stdev": 7.2801,
    "intermediate_supervision": False,
    "intermediate_supervision_layer": 12,
    "pairwise_huber_loss": False,
    "partaffinityfield_predict": False,
    "pairwise_predict": False,
    "max_input_size": 1500,
    "min_input_size": 64,
    "multi_step": [[0.005, 10000], [0.02, 430000], [0.002, 730000], [0.001, 1030000]],
    "lr_init": 0.0005,
    "decay_steps": 30000,
    "alpha_r": 0.02,
    "display_iters": 1000,
    "save_iters": 50000,
}

# default_config.py values the template does not set (DLC adds them when loading).
CODE_DEFAULTS: dict[str, Any] = {
    "stride": 8.0,
    "weigh_part_predictions": False,
    "weigh_negatives": False,
    "fg_fraction": 0.25,
    "mean_pixel": [123.68, 116.779, 103.939],
    "shuffle": True,
    "snapshot_prefix": "./snapshot",
    "log_dir": "log",
    "optimizer": "sgd",
    "regularize": False,
    "weight_decay": 0.0001,
    "crop_pad": 0,
    "scoremap_dir": "test",
    "deterministic": False,
    "weigh_only_present_joints": False,
}

# Defaults DLC's imgaug loader applies when the keys are absent (pose_imgaug.py).
IMGAUG_DEFAULTS: dict[str, Any] = {
    "covering": True,
    "elastic_transform": True,
    "motion_blur": True,
    "motion_blur_params": {"k": 7, "angle": [-90, 90]},
}

# Keys DLC drops from a single-animal train pose_cfg (maDLC smart cropping), and for scalecrop.
SINGLE_DROP = ("pre_resize", "crop_size", "max_shift", "crop_sampling")
SCALECROP_DROP = ("rotation", "rotratio")

TEST_KEYS = (
    "dataset",
    "num_joints",
    "all_joints",
    "all_joints_names",
    "net_type",
    "init_weights",
    "global_scale",
    "location_refinement",
    "locref_stdev",
)
MULTI_TEST_KEYS = (
    *TEST_KEYS,
    "multi_stage",
    "dataset_type",
    "partaffinityfield_predict",
    "pairwise_predict",
    "partaffinityfield_graph",
    "num_limbs",
    "num_idchannel",
)
MULTI_TEST_EXTRA: dict[str, Any] = {
    "nmsradius": 5.0,
    "minconfidence": 0.01,
    "sigma": 1,
    "locref_smooth": False,
}

# DLC 2.3's inference_cfg.yaml template (multi animal).
INFERENCE_TEMPLATE: dict[str, Any] = {
    "variant": 0,
    "pafthreshold": 0.1,
    "method": "m1",
    "pcutoff": 0.1,
    "withid": False,
    "boundingboxslack": 0,
    "iou_threshold": 0.6,
    "max_age": 1,
    "min_hits": 1,
}


class PoseConfigError(ValueError):
    """A bad model setting (net type, augmenter, template, weights); one-line message."""


def check_net_type(net_type: str, multianimal: bool = False) -> tuple[str, bool]:
    """Validate ``net_type``; return (net_type for pose_cfg, multi_stage).

    Multi animal also accepts ``dlcrnet_ms5``, which DLC writes as ``resnet_50`` with
    ``multi_stage: true``.
    """
    allowed = MULTI_NET_TYPES if multianimal else NET_TYPES
    if net_type not in allowed:
        raise PoseConfigError(f"unknown net_type {net_type!r}; choose one of {', '.join(allowed)}")
    if net_type == "dlcrnet_ms5":
        return "resnet_50", True
    return net_type, False


def dataset_type(augmenter_type: str | None, multianimal: bool = False) -> str:
    """pose_cfg ``dataset_type`` for an augmenter. ``default`` (and None) is DLC's imgaug
    loader; multi-animal projects always use ``multi-animal-imgaug``."""
    if multianimal:
        return MULTI_AUGMENTER
    if augmenter_type is None or augmenter_type == "default":
        return "imgaug"
    if augmenter_type not in AUGMENTER_TYPES:
        raise PoseConfigError(
            f"unknown augmenter_type {augmenter_type!r}; choose one of {', '.join(AUGMENTER_TYPES)}"
        )
    return augmenter_type


def init_weights_value(init_weights: str | os.PathLike[str] | None) -> str:
    """``imagenet``, ``none`` (random init), or the absolute path of a weights file."""
    if init_weights is None:
        return "none"
    text = str(init_weights).strip()
    if not text:
        raise PoseConfigError("init_weights is empty; use 'imagenet', 'none' or a file path")
    if text.lower() in INIT_WEIGHTS_KEYWORDS:
        return text.lower()
    return str(Path(text).expanduser().resolve())


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a pose_cfg-style YAML mapping (first document); PoseConfigError if unusable."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = next(iter(yaml.safe_load_all(text)), None)
    except (OSError, yaml.YAMLError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PoseConfigError(f"{p}: cannot read ({first})") from None
    if not isinstance(data, dict):
        raise PoseConfigError(f"{p}: expected a mapping of pose_cfg keys")
    return data


def read_template(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A user pose_cfg template (DLC's ``posecfg_template``): a file named pose_cfg.yaml."""
    p = Path(path)
    if not p.name.endswith("pose_cfg.yaml"):
        raise PoseConfigError(f"{p}: posecfg_template must be a pose_cfg.yaml file")
    return read_yaml(p)


def merge(into: dict[str, Any], values: Mapping[str, Any]) -> None:
    """Merge ``values`` into ``into``; nested mappings merge key by key (as DLC loads)."""
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def make_train_pose_cfg(
    items: Mapping[str, Any],
    template: Mapping[str, Any] | None = None,
    drop: Sequence[str] = (),
) -> dict[str, Any]:
    """The train pose_cfg: code defaults, then the template (DLC's unless given), minus
    ``drop``, then ``items``."""
    cfg: dict[str, Any] = {}
    merge(cfg, CODE_DEFAULTS)
    merge(cfg, IMGAUG_DEFAULTS)
    merge(cfg, TEMPLATE if template is None else template)
    for key in drop:
        cfg.pop(key, None)
    merge(cfg, items)
    return cfg


def make_test_pose_cfg(train: Mapping[str, Any], multianimal: bool = False) -> dict[str, Any]:
    """The test pose_cfg DLC derives from the train one, plus ``scoremap_dir: test``."""
    keys = MULTI_TEST_KEYS if multianimal else TEST_KEYS
    cfg = {key: copy.deepcopy(train[key]) for key in keys if key in train}
    if multianimal:
        cfg.update(MULTI_TEST_EXTRA)
    cfg["scoremap_dir"] = "test"
    return cfg


def inference_cfg(
    multianimal_bodyparts: Sequence[str], individuals: Sequence[str], identity: bool
) -> dict[str, Any]:
    """DLC's test/inference_cfg.yaml for a multi-animal model."""
    cfg = copy.deepcopy(INFERENCE_TEMPLATE)
    cfg["minimalnumberofconnections"] = int(len(multianimal_bodyparts) / 2)
    cfg["topktoretain"] = len(individuals)
    cfg["withid"] = bool(identity)
    return cfg


def write_yaml(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write a pose_cfg-style YAML file atomically (sorted keys, block style, as DLC)."""
    text = yaml.safe_dump(dict(data), sort_keys=True, default_flow_style=False)
    atomic_write_text(Path(path), text)


def load_pose_cfg(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a pose_cfg.yaml as DLC loads it: code defaults merged under the file's keys."""
    cfg: dict[str, Any] = {}
    merge(cfg, CODE_DEFAULTS)
    merge(cfg, IMGAUG_DEFAULTS)
    merge(cfg, read_yaml(path))
    return cfg
