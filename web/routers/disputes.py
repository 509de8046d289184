"""Placeholder: filled in by the disputes work (see the module's owner)."""

from __future__ import annotations

from fastapi import APIRouter

api = APIRouter(prefix="/api/v1", tags=["disputes"])
pages = APIRouter(include_in_schema=False)
