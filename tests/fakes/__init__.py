"""Fakes of the package's ports, for unit tests without I/O."""
