"""MIME: a byte-offset parser computing, once at delivery, what IMAP needs (see structure.py)."""

from polyport.mime.parse import parse

__all__ = ["parse"]
