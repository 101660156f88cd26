"""The campaign report: Markdown and HTML with PNG plots, from the store alone."""

from matforge.report.build import REPORT_COLUMNS, ReportResult, write_report

__all__ = ["REPORT_COLUMNS", "ReportResult", "write_report"]
