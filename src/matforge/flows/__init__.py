"""jobflow Makers and the stage functions they wrap, one module per stage."""
