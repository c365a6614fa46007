"""Cohorts: groups of studies with a purpose, their members (object-level access) and labels."""
