"""Causal discovery (FCI) over feature tables: causal-learn in, our documents out."""
