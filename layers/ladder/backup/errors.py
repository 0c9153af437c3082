"""The backup package's errors."""


class CorruptObject(Exception):
    """An object whose bytes do not hash to what its manifest recorded."""
