"""Validation of received e-invoices: the public API of the validation package.

``validate`` turns the bytes of one received file into a ``Report``; ``warm`` compiles the
stylesheets before workers fork. The engine and its ordered steps live in
``einvoice.validation.engine`` (its docstring says what the verdict means); findings and reports
in ``report``, the configuration in ``config``. This module only re-exports them: it must never
hold engine code, so no module of the package needs to import it. No Prefect imports here.
"""
from __future__ import annotations

from einvoice.validation.config import ValidationConfig
from einvoice.validation.engine import validate, warm
from einvoice.validation.report import STAGES, Finding, Report

__all__ = ["validate", "Finding", "Report", "ValidationConfig", "warm", "STAGES"]
