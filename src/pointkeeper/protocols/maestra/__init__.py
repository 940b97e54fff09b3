"""The Maestra / Mindbox v3 operations API (seeds 000 and 002)."""
