"""``GET /healthz`` for the load balancer or process supervisor: answers while the process serves.

This router must never touch the database, the archive or a session (a health check that signs
people in or waits for storage would make an outage look like a crash loop).
"""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz():
    return {"ok": True}
