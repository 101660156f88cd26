"""Stages that read their inputs from and write their outputs to the stores."""
