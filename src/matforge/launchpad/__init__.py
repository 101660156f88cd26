"""FireWorks: launchpad, worker and queue-adapter files, and submitting flows."""
