"""Ingest sources (Materials Project, files, offline snapshot) and curation."""
