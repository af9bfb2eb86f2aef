"""The base of every settings section (its own module so that sections outside model.py,
such as branding.py, can share it without a circular import)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["Section"]


class Section(BaseModel):
    """Base of every section: camelCase keys, unknown keys refused (the loader names them)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )
