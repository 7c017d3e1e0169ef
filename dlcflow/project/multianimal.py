"""What a multi-animal project's config.yaml must hold before a model can be built on it.

DeepLabCut's maDLC reads ``individuals``, ``multianimalbodyparts`` and
``uniquebodyparts`` (``bodyparts: MULTI!``). A config that says ``multianimalproject:
true`` without them (a single-animal project switched by hand), unique parts without
animal parts, or no individual cannot make part-affinity networks: each stops with one
line naming the config file.

One individual is allowed, as in DLC: a multi-animal project of one animal (the usual way
to get unique body parts, or a network trained with DLC's multi-animal augmentation, for
one animal). Its analysis keeps the most confident detection of each body part in each
frame instead of assembling (``max_n_individuals`` 1) and one tracklet instead of
tracking (``topktoretain`` 1), as DLC 2.3 does.
"""

from __future__ import annotations

from dlcflow.project.paths import Project


class MultiAnimalConfigError(ValueError):
    """A multi-animal config.yaml that cannot be trained on (one line, names the file)."""


def check_multianimal(project: Project) -> None:
    """Raise :class:`MultiAnimalConfigError` when ``project`` (multi-animal) is unusable."""
    cfg, where = project.cfg, project.config_path
    multi, unique = project.multianimal_bodyparts, project.unique_bodyparts
    individuals = project.individuals
    listed = cfg.get("bodyparts")
    if not multi and not individuals and isinstance(listed, list) and listed:
        raise MultiAnimalConfigError(
            f"{where}: multianimalproject is true but the config lists bodyparts "
            f"({', '.join(map(str, listed))}) and no individuals or multianimalbodyparts: "
            "a single-animal project; set multianimalproject: false (or add individuals, "
            "multianimalbodyparts and bodyparts: MULTI!)"
        )
    if not multi:
        what = f"only uniquebodyparts ({', '.join(unique)})" if unique else "none"
        raise MultiAnimalConfigError(
            f"{where}: multianimalbodyparts is empty ({what}): a multi-animal project needs "
            "the body parts every animal has"
        )
    if not individuals:
        raise MultiAnimalConfigError(
            f"{where}: individuals is empty: a multi-animal project needs one or more "
            "individuals (the animals of its multianimalbodyparts)"
        )
    for names, what in ((individuals, "individuals"), (multi + unique, "body parts")):
        twice = sorted({str(n) for n in names if list(names).count(n) > 1})
        if twice:
            raise MultiAnimalConfigError(f"{where}: {what} listed twice: {', '.join(twice)}")
    if "single" in individuals:
        raise MultiAnimalConfigError(
            f"{where}: 'single' is reserved for the unique body parts; rename that individual"
        )
