"""Configuration: YAML files in, validated immutable ``Config`` out, with file:line errors.

Use ``load_config`` to start the daemon, ``check_config`` or ``hopwatch validate`` to list every
problem, and ``load_document`` / ``KIND_VALIDATORS`` for the other kinds of file (SLO groups,
checks, routing). The runtime records live in ``monitor.config.model``.
"""

from monitor.config.document import load_document, validate_data
from monitor.config.errors import ConfigError, ConfigIssue
from monitor.config.includes import KIND_VALIDATORS, KindValidator
from monitor.config.loader import check_config, load_config
from monitor.config.where import WhereSyntaxError, compile_where

__all__ = [
    "KIND_VALIDATORS",
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
