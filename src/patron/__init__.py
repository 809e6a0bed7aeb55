"""Patron: a loyalty and promotion engine for retail chains."""

__version__ = "0.1.0"
