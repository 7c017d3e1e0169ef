"""Options objects: validation, the DLC-named functions that build them, and their agreement
with the workflow config's schema and defaults."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from dlcflow.core.options import Options
from dlcflow.inference import analyze
from dlcflow.inference.analyze import AnalysisOptions, analyze_videos
from dlcflow.inference.engines import ENGINE_NAMES
from dlcflow.plots import poses
from dlcflow.plots.poses import LabeledVideoOptions, create_labeled_video
from dlcflow.post import filters, outliers
from dlcflow.post.filters import FILTERTYPES, FilterOptions, filterpredictions
from dlcflow.post.outliers import (
    EXTRACTION_ALGORITHMS,
    OUTLIER_ALGORITHMS,
    OutlierOptions,
    extract_outlier_frames,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
CONFIG = yaml.safe_load((ROOT / "config/config.yaml").read_text())
#: workflow config section -> its options class
SECTIONS: dict[str, type[Options]] = {
    "filter": FilterOptions,
    "outliers": OutlierOptions,
    "labeled_videos": LabeledVideoOptions,
    "analyze": AnalysisOptions,
}


def _defaults(cls: type[Options]) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(cls)}


# -- validation -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "values", "message"),
    [
        (FilterOptions, {"filtertype": "kalman"}, "filtertype 'kalman' is not one of median, "),
        (FilterOptions, {"windowlength": 0}, "windowlength 0 must be an integer >= 1"),
        (FilterOptions, {"windowlength": True}, "windowlength True must be an integer"),
        (FilterOptions, {"p_bound": 1.5}, r"p_bound 1.5 must be a number in \[0, 1\]"),
        (FilterOptions, {"alpha": 0}, r"alpha 0 must be a number in \(0, 1\)"),
        (FilterOptions, {"ARdegree": -1}, "ARdegree -1 must be an integer >= 0"),
        (FilterOptions, {"save_as_csv": "yes"}, "save_as_csv 'yes' must be true or false"),
        (OutlierOptions, {"outlieralgorithm": "wild"}, "'wild' is not one of jump, uncertain"),
        (OutlierOptions, {"outlieralgorithm": "manual"}, "'manual': pick frames in the label"),
        (OutlierOptions, {"outlieralgorithm": "list"}, "'list' needs frames2use"),
        (OutlierOptions, {"frames2use": ["a"]}, r"frames2use \['a'\] must be frame indices"),
        (OutlierOptions, {"epsilon": 0}, "epsilon 0 must be a number in"),
        (OutlierOptions, {"extractionalgorithm": "x"}, "'x' is not one of kmeans, uniform"),
        (OutlierOptions, {"cluster_resizewidth": 0}, "cluster_resizewidth 0 must be an integer"),
        (LabeledVideoOptions, {"trailpoints": -2}, "trailpoints -2 must be an integer >= 0"),
        (LabeledVideoOptions, {"confidence_to_alpha": 0.5}, "confidence_to_alpha 0.5 must be"),
        (LabeledVideoOptions, {"outputframerate": -1}, "outputframerate -1 must be a number"),
        (AnalysisOptions, {"batchsize": 0}, "batchsize 0 must be an integer >= 1"),
        (AnalysisOptions, {"dynamic": (True, 0.5)}, r"dynamic \(True, 0.5\) must be \(state, "),
        (AnalysisOptions, {"cropping": [1, 2]}, r"cropping \[1, 2\] must be \[x1, x2, y1, y2\]"),
        (AnalysisOptions, {"engine": "torch"}, "engine 'torch' is not one of auto, tensorflow"),
    ],
)
def test_bad_values_raise_one_line_naming_the_option(
    cls: type[Options], values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as err:
        cls(**values)
    assert "\n" not in str(err.value)


def test_values_are_normalised_and_frozen() -> None:
    opts = OutlierOptions("list", frames2use=[5, "7"], comparisonbodyparts=["snout"])
    assert opts.frames2use == (5, 7) and opts.comparisonbodyparts == ("snout",)
    assert AnalysisOptions(dynamic=[1, "0.4", 12.0], cropping=[0, 10, 0, 10]).dynamic == (
        True,
        0.4,
        12,
    )
    assert LabeledVideoOptions(displayedbodyparts=["snout"]).displayedbodyparts == ("snout",)
    assert LabeledVideoOptions(confidence_to_alpha=lambda p: p).confidence_to_alpha(0.3) == 0.3
    with pytest.raises(dataclasses.FrozenInstanceError):
        FilterOptions().windowlength = 7  # type: ignore[misc]


# -- the DLC-named functions --------------------------------------------------------------
DLC_SIGNATURES = {
    filterpredictions: (
        "config, video, videotype='', shuffle=1, trainingsetindex=0, filtertype='median', "
        "windowlength=5, p_bound=0.001, ARdegree=3, MAdegree=1, alpha=0.01, save_as_csv=True, "
        "destfolder=None, overwrite=False, track_method='', *, options=None"
    ),
    extract_outlier_frames: (
        "config, videos, videotype='', shuffle=1, trainingsetindex=0, outlieralgorithm='jump', "
        "frames2use=None, comparisonbodyparts='all', epsilon=20, p_bound=0.01, ARdegree=3, "
        "MAdegree=1, alpha=0.01, extractionalgorithm='kmeans', automatic=True, "
        "cluster_resizewidth=30, cluster_color=False, savelabeled=False, destfolder=None, "
        "track_method='', *, options=None"
    ),
    create_labeled_video: (
        "config, videos, videotype='', shuffle=1, trainingsetindex=0, filtered=False, "
        "save_frames=False, draw_skeleton=False, trailpoints=0, keypoints_only=False, "
        "displayedbodyparts='all', displaycropped=False, confidence_to_alpha=False, "
        "outputframerate=None, destfolder=None, overwrite=False, displayedindividuals='all', "
        "color_by='bodypart', track_method='', track_ids=False, *, options=None"
    ),
    analyze_videos: (
        "config, videos, videotype='', shuffle=1, trainingsetindex=0, batchsize=None, "
        "save_as_csv=False, destfolder=None, cropping=None, dynamic=(False, 0.5, 10), "
        "gputouse=None, robust_nframes=False, snapshot_index=None, force=False, threads=None, "
        "*, modelprefix='', engine='auto', options=None, iteration=None, auto_track=True, "
        "n_tracks=None, calibrate=False, identity_only=False"
    ),
}


@pytest.mark.parametrize("function", list(DLC_SIGNATURES), ids=lambda f: f.__name__)
def test_dlc_names_defaults_and_order_are_kept(function: Any) -> None:
    params = inspect.signature(function).parameters.values()
    text = ", ".join(
        ("*, " if p.kind is p.KEYWORD_ONLY and i == _first_kw(function) else "")
        + (p.name if p.default is p.empty else f"{p.name}={p.default!r}")
        for i, p in enumerate(params)
    )
    assert text == DLC_SIGNATURES[function]


def _first_kw(function: Any) -> int:
    kinds = [p.kind for p in inspect.signature(function).parameters.values()]
    return kinds.index(inspect.Parameter.KEYWORD_ONLY)


class Built(Exception):
    """Raised by the spy once a function has gathered its options."""


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[Options]:
    """Options the DLC-named functions build (they stop right after)."""
    seen: list[Options] = []
    original = Options.gather.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Options], options: Any, arguments: Any, where: str) -> Options:
        seen.append(original(cls, options, arguments, where))
        raise Built

    monkeypatch.setattr(Options, "gather", classmethod(spy))
    return seen


OUTLIER_ARGS = ("c", "v", "", 1, 0, "uncertain", None, ["snout"], 5, 0.2, 2, 0, 0.05, "uniform")
OUTLIER_ARGS += (True, 20, True, True)  # automatic, cluster_resizewidth, color, savelabeled
ANALYSIS_ARGS = ("c", "v", "", 1, 0, 8, True, None, [0, 10, 0, 10], (True, 0.3, 5), 0, True)
ANALYSIS_ARGS += (None, False, 2)  # snapshot_index, force, threads


def test_positional_and_keyword_calls_build_the_options(built: list[Options]) -> None:
    calls = [
        (
            lambda: filterpredictions("c", "v", "", 1, 0, "arima", 7, 0.05, 2, 0, 0.1, False),
            FilterOptions("arima", 7, 0.05, 2, 0, 0.1, False),
        ),
        (
            lambda: filterpredictions("c", "v", filtertype="spline", windowlength=9),
            FilterOptions("spline", 9),
        ),
        (
            lambda: extract_outlier_frames(*OUTLIER_ARGS),
            OutlierOptions(
                "uncertain", None, ("snout",), 5, 0.2, 2, 0, 0.05, "uniform", 20, True, True
            ),
        ),
        (
            lambda: extract_outlier_frames("c", "v", outlieralgorithm="list", frames2use=[3]),
            OutlierOptions("list", frames2use=(3,)),
        ),
        (
            lambda: create_labeled_video(
                "c", "v", "", 1, 0, True, True, True, 3, True, ["snout"], True, True, 15.0
            ),
            LabeledVideoOptions(True, True, 3, True, ("snout",), True, True, 15.0),
        ),
        (
            lambda: create_labeled_video("c", "v", trailpoints=2, draw_skeleton=True),
            LabeledVideoOptions(draw_skeleton=True, trailpoints=2),
        ),
        (
            lambda: analyze_videos(*ANALYSIS_ARGS, engine="onnx"),
            AnalysisOptions(8, True, (0, 10, 0, 10), (True, 0.3, 5), 0, True, 2, "onnx"),
        ),
        (
            lambda: analyze_videos("c", "v", batchsize=4, threads=1),
            AnalysisOptions(batchsize=4, threads=1),
        ),
    ]
    for call, expected in calls:
        with pytest.raises(Built):
            call()
        assert built.pop() == expected


def test_options_keyword_wins_alone_and_conflicts_are_errors() -> None:
    opts = FilterOptions("spline", 9)
    assert FilterOptions.gather(opts, {"filtertype": "median", "windowlength": 5}, "f") is opts
    assert OutlierOptions.gather(OutlierOptions(), {"epsilon": 20.0}, "f") == OutlierOptions()
    with pytest.raises(ValueError, match="filterpredictions: windowlength given both as a keyword"):
        filterpredictions("c", "v", windowlength=7, options=opts)
    with pytest.raises(ValueError, match="extract_outlier_frames: epsilon given both"):
        extract_outlier_frames("c", "v", epsilon=3, options=OutlierOptions())
    with pytest.raises(ValueError, match="create_labeled_video: trailpoints given both"):
        create_labeled_video("c", "v", trailpoints=1, options=LabeledVideoOptions())
    with pytest.raises(ValueError, match="analyze_videos: engine given both"):
        analyze_videos("c", "v", engine="onnx", options=AnalysisOptions())
    with pytest.raises(TypeError, match="options must be a FilterOptions, not OutlierOptions"):
        filterpredictions("c", "v", options=OutlierOptions())  # type: ignore[arg-type]


def test_internal_functions_take_the_options_object() -> None:
    for function, cls in (
        (filters.filter_file, FilterOptions),
        (outliers.extract_outliers_file, OutlierOptions),
        (outliers.find_outliers, OutlierOptions),
        (poses.labeled_video_file, LabeledVideoOptions),
        (analyze._analyze_video, AnalysisOptions),
    ):
        params = inspect.signature(function).parameters
        assert cls.__name__ in str(params["options"].annotation), function.__name__
        assert len(params) <= 8, function.__name__


# -- the workflow config ------------------------------------------------------------------
@pytest.mark.parametrize("section", list(SECTIONS))
def test_schema_config_and_dataclass_agree(section: str) -> None:
    cls, schema = SECTIONS[section], SCHEMA["properties"][section]
    fields = _defaults(cls)
    assert set(cls.CONFIG_KEYS) <= set(fields)
    assert not set(cls.WORKFLOW_KEYS) & set(fields)
    keys = set(cls.CONFIG_KEYS) | set(cls.WORKFLOW_KEYS)
    assert set(schema["properties"]) == keys == set(schema["required"]) == set(CONFIG[section])
    assert set(cls.CONFIG_DEFAULTS) <= set(cls.CONFIG_KEYS)
    for key in cls.CONFIG_KEYS:  # config.yaml's defaults are DLC's unless documented
        assert CONFIG[section][key] == cls.CONFIG_DEFAULTS.get(key, fields[key]), key
    opts = cls.from_config(CONFIG[section])
    assert opts.to_config() == {k: CONFIG[section][k] for k in cls.CONFIG_KEYS}
    for key in cls.CONFIG_KEYS:  # what the schema allows, the dataclass takes
        prop = schema["properties"][key]
        for value in prop.get("enum", []):
            cls(**{key: value})
        if prop.get("type") == "integer" and "minimum" in prop:
            cls(**{key: prop["minimum"]})
            with pytest.raises(ValueError, match=f"{key} {prop['minimum'] - 1} must be"):
                cls(**{key: prop["minimum"] - 1})


def test_choices_match_the_schema() -> None:
    props = {s: SCHEMA["properties"][s]["properties"] for s in SECTIONS}
    assert tuple(props["filter"]["filtertype"]["enum"]) == FILTERTYPES
    assert set(props["outliers"]["outlieralgorithm"]["enum"]) == set(OUTLIER_ALGORITHMS) - {"list"}
    assert tuple(props["outliers"]["extractionalgorithm"]["enum"]) == EXTRACTION_ALGORITHMS
    assert tuple(props["analyze"]["engine"]["enum"]) == ENGINE_NAMES


def test_from_config_names_unknown_keys() -> None:
    with pytest.raises(ValueError, match="FilterOptions: unknown config key 'window'"):
        FilterOptions.from_config({"window": 5})
    assert LabeledVideoOptions.from_config({"filtered": True}) == LabeledVideoOptions()
    assert FilterOptions.from_config({}) == FilterOptions()
