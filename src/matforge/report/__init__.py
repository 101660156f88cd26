"""The campaign report: Markdown and HTML with PNG plots, from the store alone."""

from matforge.report.build import ReportResult, write_report

__all__ = ["ReportResult", "write_report"]
