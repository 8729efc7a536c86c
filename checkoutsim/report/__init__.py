"""The report layer: the only part of checkoutsim that writes files."""
