"""hopwatch: watches an event pipeline hop by hop and says when data is lost, late, duplicated or skewed.

The import package is ``monitor``; the distribution and the command are ``hopwatch``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
