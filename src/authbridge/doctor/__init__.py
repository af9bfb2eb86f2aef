"""`authbridge doctor`: what is wrong with an IdP (or authbridge) before a user finds out."""

from __future__ import annotations

from authbridge.doctor.report import CHECKS, Check, exit_code
from authbridge.doctor.run import check_connector, diagnose

__all__ = ["CHECKS", "Check", "check_connector", "diagnose", "exit_code"]
