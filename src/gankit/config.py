"""Typed configuration: dataclasses with defaults, YAML presets shipped in the package, dotted overrides.

A run's config is resolved in three layers, each validated as strictly as the last:
``defaults (the dataclasses) <- preset YAML <- "section.key=value" overrides``. Unknown keys, wrong
types, out-of-range values and unknown registry names raise :class:`ConfigError` with one sentence that
names the key and the allowed values, before any work is done (docs/architecture.md rule 7). The resolved config is
saved in the run directory as ``config.yaml``; loading it back gives an equal object.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# The schema, the checks and the resume rules live in modules of their own; every name stays importable from here.
from gankit.config_resume import RESUMABLE, changed_keys, non_resumable
from gankit.config_schema import (
    ACTIVATIONS,
    CONDITIONS,
    D_STEP_SCHEDULES,
    DEVICES,
    LR_SCHEDULES,
    MINIBATCH,
    NORMS,
    OPTIMIZERS,
    PRIORS,
    REG_SCHEDULES,
    Config,
    DataConfig,
    DiscriminatorConfig,
    EvalConfig,
    GeneratorConfig,
    ModelConfig,
    OptimConfig,
    RegConfig,
    RunConfig,
    TrainConfig,
)
from gankit.config_validate import (
    INT_LIMIT,
    MAX_DEPTH,
    MAX_IMAGE_SIDE,
    MAX_LEVELS,
    NAME_MAX,
    from_dict,
    to_dict,
    validate,
)
from gankit.errors import ConfigError
from gankit.yamlio import MAX_BYTES, LimitError, read_yaml

__all__ = [
    "ACTIVATIONS", "CONDITIONS", "D_STEP_SCHEDULES", "DEVICES", "INT_LIMIT", "LR_SCHEDULES", "MAX_DEPTH",
    "MAX_IMAGE_SIDE", "MAX_LEVELS", "MINIBATCH", "NAME_MAX", "NORMS", "OPTIMIZERS", "PRIORS", "REG_SCHEDULES",
    "RESUMABLE", "Config", "DataConfig", "DiscriminatorConfig", "EvalConfig", "GeneratorConfig", "ModelConfig",
    "OptimConfig", "RegConfig", "RunConfig", "TrainConfig", "apply_overrides", "apply_values", "changed_keys",
    "dump", "from_dict", "load", "load_file", "load_preset", "non_resumable", "objective_defaults",
    "parse_override", "preset_description", "preset_names", "resolve", "save", "to_dict", "validate",
]


# ------------------------------------------------------------------------------------------- presets


def _preset_dir() -> Any:
    return resources.files("gankit") / "presets"


def preset_names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _preset_dir().iterdir() if p.name.endswith(".yaml"))


def preset_description(name: str) -> str:
    """The preset file's first comment line."""
    text = (_preset_dir() / f"{name}.yaml").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    data = read_yaml(text, where)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a mapping of sections, got {type(data).__name__}")
    return data


def load_preset(name: str) -> dict[str, Any]:
    """The preset's YAML as nested data (not yet validated)."""
    if name not in preset_names():
        raise ConfigError(f"unknown preset '{name}'; choose one of: {', '.join(preset_names())}")
    return _read_yaml((_preset_dir() / f"{name}.yaml").read_text(encoding="utf-8"), f"preset '{name}'")


def load_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file as nested data (not yet validated).

    Raises:
        ConfigError: the file is missing, unreadable, not UTF-8 text or not a YAML mapping.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' does not exist")
    try:
        if p.stat().st_size > MAX_BYTES:  # refused before reading: a config is a few KB
            raise ConfigError(f"config file '{p}' is refused: more than {MAX_BYTES >> 20} MiB, "
                              "too large to be a config")
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file '{p}' is not UTF-8 text (byte {exc.start}); is it a YAML file?") from None
    except OSError as exc:
        raise ConfigError(f"config file '{p}' cannot be read: {exc.strerror or exc}") from None
    return _read_yaml(text, f"config file '{p}'")


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.steps=100"`` -> (["train", "steps"], 100). The value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value (e.g. train.steps=1000)")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(p.isidentifier() for p in parts):
        raise ConfigError(f"override key '{key}' must be dotted names like train.steps")
    try:
        value = read_yaml(raw, f"override {key.strip()}") if raw.strip() else ""
    except LimitError:
        raise  # an alias bomb or a megabyte of text: refused, naming the key
    except ConfigError:
        value = raw  # not YAML: a plain string, and the type check decides
    if isinstance(value, (dict, set)) or value is None and raw.strip() not in ("", "null", "~"):
        value = raw
    if value is None:
        value = ""
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    return apply_values(data, [parse_override(text) for text in overrides])


def apply_values(data: dict[str, Any], values: list[tuple[list[str], Any]]) -> dict[str, Any]:
    """A copy of ``data`` with each (key path, value) set, creating sections as needed."""
    out = _merge({}, data)
    for parts, value in values:
        node = out
        for p in parts[:-1]:
            child = node.get(p)
            if not isinstance(child, dict):
                child = {}
                node[p] = child
            node = child
        node[parts[-1]] = value
    return out


def objective_defaults(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply the chosen objective's own config values (registry meta ``config_defaults``, ``section.key`` ->
    value; e.g. each f-GAN row's learning rates) when the objective was chosen by an override over a preset
    or file tuned for another one, then its values for the chosen data set (meta ``data_defaults``, data
    name -> {``section.key``: value}), which win over the first. Values the overrides set win over both; a
    preset or file that names this very objective keeps its own values (so a saved config.yaml loads unchanged).
    """
    from gankit.registry import OBJECTIVES

    named = {".".join(parse_override(text)[0]) for text in overrides}
    name = data.get("model", {}).get("objective")
    if not isinstance(name, str) or name not in OBJECTIVES.names():
        return data  # an unknown name is reported by from_dict
    meta = OBJECTIVES.meta(name)
    section = data.get("data")
    data_name = section.get("name") if isinstance(section, dict) else None
    defaults = {**meta.get("config_defaults", {}), **meta.get("data_defaults", {}).get(data_name, {})}
    return apply_values(data, [(key.split("."), value) for key, value in defaults.items() if key not in named])


def resolve(
    preset: str | None = None, file: str | Path | None = None, overrides: list[str] | None = None
) -> Config:
    """Defaults <- preset (or file) <- the objective's defaults <- overrides, validated.

    ``preset=None`` and no file: 'ring8'. The objective's defaults apply only when an override chose the
    objective (:func:`objective_defaults`).
    """
    if preset and file:
        raise ConfigError("give either a preset or a config file, not both")
    if file:
        data = load_file(file)
    else:
        preset = preset or "ring8"
        data = load_preset(preset)
        data.setdefault("preset", preset)
    base = data.get("model", {}).get("objective") if isinstance(data.get("model"), dict) else None
    data = apply_overrides(data, overrides or [])
    if isinstance(data.get("model"), dict) and data["model"].get("objective") != base:
        data = objective_defaults(data, overrides or [])
    cfg = from_dict(data)
    if not cfg.run.name:
        cfg.run.name = cfg.preset or (Path(file).stem if file else "run")
        validate(cfg)  # the name now comes from the preset or the file: the same rules as a given run.name
    return cfg


def dump(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def save(cfg: Config, path: str | Path) -> None:
    from gankit.fileio import atomic_write_text

    atomic_write_text(Path(path), dump(cfg))


def load(path: str | Path) -> Config:
    """A saved config (a run's config.yaml); errors name the file."""
    try:
        return from_dict(load_file(path))
    except ConfigError as exc:
        if f"'{path}'" in str(exc):
            raise
        raise ConfigError(f"config file '{path}': {exc}") from None
