"""The ``aggspec`` command: argument parsing and wiring (``main``), and the
text rendering of summaries (``summary``), reports (``report_text``), tables
and plots."""

from __future__ import annotations

from aggspec.cli.commands import main

__all__ = ["main"]
