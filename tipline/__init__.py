"""Tipline: anonymous, end-to-end encrypted tip intake for newsrooms.

This module holds the version only, so that importing any part of the
package (the offline tool in particular) pulls in nothing heavy.
"""

__version__ = "0.1.0"
