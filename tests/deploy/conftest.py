"""Shared paths for the packaging tests (deploy/)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "authbridge"
SEEDS = ROOT / "tests" / "data" / "seeds"
