"""The ``fedshield`` command line."""
