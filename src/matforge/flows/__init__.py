"""jobflow Makers, one per stage."""
