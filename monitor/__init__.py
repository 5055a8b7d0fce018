"""sfm: the monitor of Beijing's designated smart factories."""

__version__ = "0.1.0"
