"""Shuniu (数纽): a provincial compute-and-data exchange scheduler."""

__version__ = "0.1.0"
