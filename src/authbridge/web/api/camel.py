"""Base models of the admin API's bodies: camelCase JSON names (`managedBy`), Python names
in code; requests refuse unknown members (a misspelt field is a 400, never ignored)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["ApiModel", "RequestModel"]


class ApiModel(BaseModel):
    """A response body (serialized by alias: FastAPI's `response_model_by_alias`)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class RequestModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
