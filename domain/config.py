"""Reading the configuration documents that maker-checker governs.

Placeholder until the config tables exist: every key reads as its defaults, version 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from core.db import Database
from domain.config_schemas import CONFIG_SCHEMAS

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ConfigVersion:
    key: str
    version: int
    values: BaseModel


async def load_config(db: Database, key: str) -> ConfigVersion:
    """The current version of configuration `key` (its defaults until one is approved)."""
    schema = CONFIG_SCHEMAS[key]
    return ConfigVersion(key=key, version=0, values=schema())


async def load_typed(db: Database, key: str, schema: type[M]) -> tuple[int, M]:
    """`load_config` with the model's type, for callers that read its fields."""
    found = await load_config(db, key)
    assert isinstance(found.values, schema)
    return found.version, found.values
