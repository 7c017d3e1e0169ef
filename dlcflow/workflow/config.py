"""The workflow config: values from the command line typed by the schema, then checked.

Snakemake reads ``--config key=value`` values itself: a top-level value becomes an int,
float or bool when it looks like one, but everything inside a nested value
(``train={maxiters: 300}``, ``shuffles=[1,2]``) stays a string. :func:`coerce_config`
turns such strings into the types the schema asks for (integer, number, boolean, null,
and lists and objects of them), so that every key of config/config.yaml can be set on the
command line; free-form sections (``pose_cfg``) get YAML's reading of each string.
:func:`validate_config` then checks the result and names the first bad key in one line.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

_BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_NULLS = {"", "null", "none", "~"}


def load_schema(schema_file: str | Path) -> dict[str, Any]:
    return yaml.safe_load(Path(schema_file).read_text())


def coerce_config(config: dict[str, Any], schema: Mapping[str, Any]) -> None:
    """Type the strings in ``config`` (in place) as ``schema`` asks; values that do not
    convert are left as they are, for validation to name."""
    typed = coerce(config, schema)
    config.update(typed)


def coerce(value: Any, schema: Mapping[str, Any]) -> Any:
    """``value`` with strings converted to the types of ``schema`` (a JSON schema)."""
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return _first_valid(value, schema[key])
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if not types:
        return _free(value)
    if isinstance(value, dict) and "object" in types:
        return _object(value, schema)
    if isinstance(value, list) and "array" in types:
        items = schema.get("items", {})
        return [coerce(v, items) for v in value]
    if isinstance(value, str) and "string" not in types:
        for kind in types:
            converted = _scalar(value, kind)
            if converted is not _NO:
                return converted
    return value


_NO = object()


def _scalar(text: str, kind: str) -> Any:
    word = text.strip()
    try:
        if kind == "integer":
            return int(word)
        if kind == "number":
            return float(word)
    except ValueError:
        return _NO
    if kind == "boolean":
        return _BOOLEANS.get(word.lower(), _NO)
    if kind == "null":
        return None if word.lower() in _NULLS else _NO
    return _NO


def _object(value: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", {})
    out = {}
    for key, item in value.items():
        sub = props.get(key, extra if isinstance(extra, dict) else {})
        out[key] = coerce(item, sub)
    return out


def _first_valid(value: Any, options: list[Mapping[str, Any]]) -> Any:
    for option in options:
        typed = coerce(value, option)
        if jsonschema.Draft202012Validator(option).is_valid(typed):
            return typed
    return value


def _free(value: Any) -> Any:
    """A value the schema leaves open: each string that reads as a number, boolean or
    null becomes one ("8" -> 8, "1e-3" -> 0.001, "true" -> True), recursively."""
    if isinstance(value, dict):
        return {k: _free(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_free(v) for v in value]
    if isinstance(value, str):
        for kind in ("integer", "number", "boolean"):
            converted = _scalar(value, kind)
            if converted is not _NO:
                return converted
        return None if value.strip().lower() in _NULLS - {""} else value
    return value


def validate_config(config: dict, schema_file: str | Path, where: str = "workflow config") -> None:
    """Type command-line strings (:func:`coerce_config`), then check the workflow config
    against its JSON schema; raise ValueError with one line naming the key.

    Unknown keys are errors (a typo would otherwise be ignored silently) and the message
    names the closest known key.
    """
    schema = load_schema(schema_file)
    coerce_config(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    path = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "additionalProperties":
        sub = schema
        for part in err.absolute_path:
            sub = sub["properties"][part]
        known = sorted(sub.get("properties", {}))
        unknown = sorted(set(err.instance) - set(known))
        name = f"{path}.{unknown[0]}" if path else unknown[0]
        close = difflib.get_close_matches(unknown[0], known, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; known keys: {', '.join(known)}"
        raise ValueError(f"{where}: unknown key '{name}'{hint}")
    raise ValueError(f"{where}: key '{path or '(top level)'}': {err.message}")
