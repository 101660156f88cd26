"""Run the command line: ``python -m matforge.cli``."""

from matforge.cli import main

if __name__ == "__main__":
    main()
