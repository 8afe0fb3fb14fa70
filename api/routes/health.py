"""Probes for orchestrators: ``/healthz`` (the process answers) and ``/readyz`` (so does the
database). Neither is rate limited nor cached."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.db import Database, get_database
from api.errors import ERROR_RESPONSES
from api.responses import Status

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status, summary="Liveness: the process answers")
def healthz() -> Status:
    return Status()


@router.get(
    "/readyz",
    response_model=Status,
    responses={503: ERROR_RESPONSES[503], 500: ERROR_RESPONSES[500]},
    summary="Readiness: the database answers",
)
def readyz(db: Annotated[Database, Depends(get_database)]) -> Status:
    db.ping()
    return Status()
