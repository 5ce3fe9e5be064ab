"""Exceptions shared by every layer.

They live in ``metrics`` because it is the bottom layer of the project: ``models`` and ``bench``
may import this module, and it imports nothing of theirs.
"""
from __future__ import annotations


class RestoreBenchError(Exception):
    """Base class of every error this project raises on purpose (never a bug)."""


class InvalidImageError(RestoreBenchError, ValueError):
    """An image that cannot be used: unreadable, truncated, unsupported mode, wrong shape."""


class ImageTooSmallError(InvalidImageError):
    """An image below the minimum size a metric needs."""


class SizeMismatchError(InvalidImageError):
    """A full-reference metric was given two images of different shapes."""


class UnknownNameError(RestoreBenchError, KeyError):
    """A registry lookup of a name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsUnavailableError(RestoreBenchError):
    """A learned component whose checkpoint file is not on this machine (or fails its hash).

    The message always names the file, where to get it and where to put it.
    """

    def __init__(self, message: str, *, filename: str = "", url: str = "", destination: str = ""):
        super().__init__(message)
        self.filename = filename
        self.url = url
        self.destination = destination
