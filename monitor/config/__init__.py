"""Configuration: YAML files in, validated immutable ``Config`` out, with file:line errors.

Use ``load_config`` to start the daemon, ``check_config`` or ``hopwatch validate`` to list every
problem, and ``load_document`` for the other kinds of file (SLO groups, checks, routing; their
validators are wired in ``monitor.validate``, above every package that owns a kind). The runtime records live in ``monitor.config.model``.
"""

from monitor.config.document import load_document, validate_data
from monitor.config.errors import ConfigError, ConfigIssue
from monitor.config.includes import KNOWN_KINDS, KindValidator
from monitor.config.loader import check_config, load_config
from monitor.config.where import WhereSyntaxError, compile_where

__all__ = [
    "KNOWN_KINDS",
    "ConfigError",
    "ConfigIssue",
    "KindValidator",
    "WhereSyntaxError",
    "check_config",
    "compile_where",
    "load_config",
    "load_document",
    "validate_data",
]
