"""The workflow's synthetic demos: ``snakemake demo``, ``demo_multianimal`` and ``demo_3d``.

Each demo has its own config section (``demo:``, ``demo_multianimal:``) and output folder,
and runs the same loop: render videos with known ground truth, make a project, label the
extracted frames with the oracle, build the dataset, train, evaluate, analyze every video
(the multi-animal one as far as stitched tracks), extract outlier frames of the held-out
videos, label them with the oracle, merge, train the next iteration from the first one's
last snapshot, and write ``report.txt``. The 3D demo (:mod:`dlcflow.devtools.demo3d`)
labels, trains and analyzes its views once (no refinement), then calibrates its cameras,
triangulates and scores the 3D poses. :class:`Demo` holds what the rules need to tell
the demos apart: folders, kind and video names. It imports nothing heavy: the Snakefile
reads it when it builds the DAG.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEMO_NAMES", "Demo", "demo_of", "demos", "make_project", "write_report"]

#: Config sections (and Snakemake targets) of the demos.
DEMO_NAMES: tuple[str, ...] = ("demo", "demo_multianimal", "demo_3d")


@dataclass(frozen=True)
class Demo:
    """One demo of the workflow config: its ``name`` (target and config section), the
    absolute folder it writes into, and the counts of its labeled and held-out videos."""

    name: str
    outdir: Path
    n_videos: int
    n_test_videos: int

    @property
    def multianimal(self) -> bool:
        return self.name == "demo_multianimal"

    @property
    def threed(self) -> bool:
        """The 3D demo: views of recordings, no refinement iteration."""
        return self.name == "demo_3d"

    @property
    def refines(self) -> bool:
        """Whether the demo trains a second, refined iteration."""
        return not self.threed

    @property
    def pointer3d(self) -> Path:
        """``project3d.txt`` (3D demo): its 3D projects' config paths, one a line (all
        cameras, then cameras 1 and 2)."""
        return self.outdir / "project3d.txt"

    @property
    def pointer(self) -> Path:
        """``project.txt``: the project's config.yaml path (the project folder's name
        carries a date, known once the project exists)."""
        return self.outdir / "project.txt"

    @property
    def merged(self) -> Path:
        """``merged.txt``: written once the refinement is merged (the next iteration)."""
        return self.outdir / "merged.txt"

    @property
    def report(self) -> Path:
        return self.outdir / "report.txt"

    def stems(self) -> tuple[list[str], list[str]]:
        """(labeled, held-out) video stems: ``mouse1, ...`` or, multi-animal, ``mice1, ...``;
        the 3D demo's are every view of every recording (``rec1-camera-1, ...``)."""
        from dlcflow.devtools.demo import demo_video_stems

        if self.threed:
            from dlcflow.devtools.demo3d import CAMERA_NAMES, recording_names, video_name

            views = [
                Path(video_name(rec, cam)).stem
                for rec in recording_names(self.n_videos)
                for cam in CAMERA_NAMES
            ]
            return views, []

        prefix = "mice" if self.multianimal else "mouse"
        return demo_video_stems(self.n_videos, self.n_test_videos, prefix=prefix)

    def holds(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` (a project folder or anything in one) is inside this demo."""
        return self.outdir in Path(path).resolve().parents


def demos(config: Mapping[str, Any]) -> dict[str, Demo]:
    """The demos of a (validated) workflow config, by name."""
    out = {}
    for name in DEMO_NAMES:
        section = config[name]
        out[name] = Demo(
            name,
            Path(section["outdir"]).resolve(),
            int(section["n_videos"]),
            int(section.get("n_test_videos", 0)),
        )
    for i, first in enumerate(DEMO_NAMES):
        for second in DEMO_NAMES[i + 1 :]:
            a, b = out[first].outdir, out[second].outdir
            if a == b or a in b.parents or b in a.parents:
                raise ValueError(
                    f"workflow config: {first}.outdir {a} and {second}.outdir {b} overlap; "
                    "give each demo its own folder"
                )
    return out


def demo_of(all_demos: Mapping[str, Demo], path: str | os.PathLike[str]) -> Demo | None:
    """The demo whose folder holds ``path``; None for a user's project."""
    return next((d for d in all_demos.values() if d.holds(path)), None)


def make_project(
    demo: Demo,
    nframes: int,
    numframes2pick: int,
    seed: int,
    n_animals: int | None = None,
    board: Mapping[str, Any] | None = None,
) -> Path:
    """Render the demo's videos and make its project (``n_animals``: the multi-animal
    demo's mice; ``board``: the 3D demo's ``cbrow``, ``cbcol``, ``square_size`` and
    ``n_calibration_images``, whose 3D projects' configs go to :attr:`Demo.pointer3d`);
    return the (2D) project's config.yaml."""
    if demo.threed:
        from dlcflow.devtools.demo3d import make_3d_demo_project, write_pointers

        config, *projects3d = make_3d_demo_project(
            demo.outdir,
            n_recordings=demo.n_videos,
            nframes=int(nframes),
            numframes2pick=int(numframes2pick),
            seed=int(seed),
            **{k: v for k, v in (board or {}).items() if v is not None},
        )
        write_pointers(demo.pointer3d, projects3d)
        return config
    common = {
        "n_videos": demo.n_videos,
        "nframes": int(nframes),
        "numframes2pick": int(numframes2pick),
        "seed": int(seed),
        "n_test_videos": demo.n_test_videos,
    }
    if demo.multianimal:
        from dlcflow.devtools.mademo import make_multi_animal_demo_project

        return make_multi_animal_demo_project(demo.outdir, n_animals=int(n_animals or 3), **common)
    from dlcflow.devtools.demo import make_demo_project

    return make_demo_project(demo.outdir, **common)


def write_report(
    config: str | os.PathLike[str],
    analysis: Sequence[str | os.PathLike[str]],
    evaluation: Sequence[str | os.PathLike[str]],
    refined: Sequence[str | os.PathLike[str]] = (),
    out: str | os.PathLike[str] | None = None,
    kinematics: Sequence[str | os.PathLike[str]] = (),
    kinematics_options: Mapping[str, Any] | None = None,
    reid: Sequence[str | os.PathLike[str]] = (),
) -> str:
    """A demo's report (:func:`~dlcflow.devtools.demoreport.demo_report`, or for a
    multi-animal project :func:`~dlcflow.devtools.mademoreport.mademo_report`), written to
    ``out``: ``analysis`` are the first model's pose files (tracks), ``refined`` the
    refined model's, ``evaluation`` the ``<scorer>-results.csv`` of both; ``kinematics``
    the single-animal demo's ``_kinematics.h5`` files, made with the workflow's
    ``kinematics_options`` section (their speed errors against the ground truth); ``reid``
    the multi-animal demo's refined tracks stitched with re-identification (``_el_tr.h5``)."""
    from dlcflow.project.paths import Project

    if Project(config).multianimal:
        from dlcflow.devtools.mademoreport import assembly_results_of, mademo_report

        return mademo_report(
            config,
            analysis,
            [assembly_results_of(csv) for csv in evaluation],
            out=out,
            refined_tracks=refined,
            reid_tracks=reid,
        )
    from dlcflow.devtools.demoreport import demo_report
    from dlcflow.post.kinematics import KinematicsOptions

    options = KinematicsOptions.from_config(kinematics_options or {})
    return demo_report(
        config,
        analysis,
        evaluation,
        out=out,
        refined_analysis=refined,
        kinematics_files=kinematics,
        kinematics_options=options,
    )
