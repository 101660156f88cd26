"""Errors that matforge reports to a person, not as a stack trace."""


class MatforgeError(Exception):
    """Base class of every error the command line reports as one clear line."""


class ConfigError(MatforgeError):
    """The settings (environment or YAML file) cannot be read or are invalid."""


class DatabaseUnreachableError(MatforgeError):
    """The configured database did not answer within the timeout."""


class DataNotFoundError(MatforgeError):
    """An input file or the offline data folder does not exist."""


class StageUnavailableError(MatforgeError):
    """A stage of the flow needs a package that is not installed."""


class StoreBusyError(MatforgeError):
    """Another live process is writing a campaign into the same embedded store."""
