"""Sweeps: asking every connector about every factory, and keeping what they said."""
