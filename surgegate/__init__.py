"""surgegate: replay a flash-sale surge against a shop and gate releases on it."""

__version__ = "0.1.0"
