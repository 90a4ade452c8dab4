"""The configuration profiles shipped with the package: one YAML file per environment, chosen by `AEGIS_ENV`.

A profile is a layer of `Settings` between the embedded defaults and the operator's own files
(`config/*.yaml`, `AEGIS_CONFIG`): it says what differs in that environment, nothing more. No `AEGIS_ENV`
means no profile: the embedded defaults, as the README's first command expects.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

PROFILES = ("dev", "test", "staging", "prod")
PROFILE_ENV = "AEGIS_ENV"


class UnknownProfileError(ValueError):
    """`AEGIS_ENV` names no shipped profile."""


def profile_file(name: str) -> Path:
    """The YAML file of profile `name`; `UnknownProfileError` (one line naming the valid ones) otherwise."""
    if name not in PROFILES:
        raise UnknownProfileError(f"{PROFILE_ENV}={name!r} is not a profile; valid: {', '.join(PROFILES)}")
    with as_file(files(__package__) / f"{name}.yaml") as path:  # a real file for a wheel or an editable install
        return Path(path)
