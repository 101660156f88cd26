"""matforge: a database-centred platform for discovering metal hydrides.

Every artefact of a discovery campaign (ingested hydrides, causal graphs, model
checkpoints, generated and relaxed structures, DFT results) lives in a document
store; flows write it, builders derive from it, people and launchers query it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
