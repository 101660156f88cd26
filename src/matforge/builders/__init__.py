"""maggma Builders that derive collections from others (candidates, ...)."""
