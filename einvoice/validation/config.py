"""Validation configuration: size limits, which layers run, per-rule severity overrides.

Overrides let a body downgrade or upgrade single rules (e.g. treat BR-DE-21 as info, or make
BR-DE-19 an error) without code changes. This module must never silently accept an unknown
severity: a typo in a configuration file is an error at load time, not a changed verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from einvoice.intake import DEFAULT_MAX_FILE_BYTES
from einvoice.organisation import SEVERITIES
from einvoice.xml.safe import DEFAULT_MAX_XML_BYTES


@dataclass(frozen=True)
class ValidationConfig:
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_xml_bytes: int = DEFAULT_MAX_XML_BYTES
    #: run the EN 16931 Schematron (turning it off makes every result "not validated")
    schematron: bool = True
    #: rule ID -> severity, applied after all stages ran
    severity_overrides: dict[str, str] = field(default_factory=dict)
    #: also report BR-DE findings (as info, not affecting `valid`) for documents that do not
    #: declare XRechnung; useful to tell a sender what is missing for XRechnung
    xrechnung_rules_for_all: bool = False
    #: build the semantic model (needed by the pipeline; the bare CLI could skip it)
    build_model: bool = True

    def __post_init__(self):
        for rule, sev in self.severity_overrides.items():
            if sev not in SEVERITIES:
                raise ValueError(f"severity override for {rule!r}: {sev!r} is not one of {', '.join(SEVERITIES)}")
        if self.max_file_bytes <= 0 or self.max_xml_bytes <= 0:
            raise ValueError("size limits must be positive")

    @classmethod
    def from_dict(cls, data: dict | None) -> "ValidationConfig":
        """Build from a mapping such as ``{"severity_overrides": {"BR-DE-21": "info"}, "max_xml_bytes": 10000000}``.

        A top-level ``validation:`` key (as in a shared YAML file) is accepted too.
        """
        data = dict(data or {})
        if "validation" in data and isinstance(data["validation"], dict):
            data = dict(data["validation"])
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown validation settings: {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        if "severity_overrides" in data:
            data["severity_overrides"] = {str(k): str(v).lower() for k, v in (data["severity_overrides"] or {}).items()}
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> "ValidationConfig":
        """Load a YAML or JSON file."""
        import yaml  # JSON is a subset of YAML

        text = Path(path).read_text(encoding="utf-8")
        return cls.from_dict(yaml.safe_load(text) or {})
