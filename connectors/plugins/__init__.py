"""Connector plugins shipped with sfm; others register under the `sfm.connectors` entry points."""
