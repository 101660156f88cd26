"""Pure science: composition and structure checks, storage score, features.

Nothing in this package opens a store or touches the file system.
"""
