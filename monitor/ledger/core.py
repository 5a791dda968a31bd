"""Which ingest core runs: the compiled one (issue 16) or the Python reference it is tested against.

``pip install`` builds the compiled cores from ``setup.py`` (``monitor/ledger/_batch.pyx``, the
ledger's batch loop; ``monitor/sources/_nesting.pyx``, the body scan of push validation;
``monitor/sources/_mapper.pyx``, push validation of a lean decode; ``monitor/slo/_sli.pyx``, the
SLO indicators' pass) when a C compiler is there; when one is missing or its build failed, or
``HOPWATCH_PURE_PYTHON=1`` is set (to compare, or to rule the compiled code out), hopwatch runs
the Python code instead, with the same results (``tests/test_compiled_core.py``,
``test_compiled_push.py`` and ``test_compiled_sli.py`` hold each to its reference on random
streams). ``NAME`` says which ran; the daemon logs it at start (``ingest_core``).

Decided once, at import: the choice is a property of the installation, like a C accelerator of
the standard library, not state of the judging core.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Final, Literal

PURE_PYTHON_ENV: Final = "HOPWATCH_PURE_PYTHON"
"""Set to anything but ``""`` or ``"0"`` to run the Python reference code though the compiled
cores are built."""


def compiled(module: str) -> ModuleType | None:
    """The compiled module ``module``, or None when it is not built, does not load (built for
    another numpy or Python: the error is kept in ``UNLOADABLE``) or ``PURE_PYTHON_ENV`` is set."""
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        return None
    except Exception as error:  # an extension that is there but broken must not stop hopwatch
        UNLOADABLE[module] = f"{type(error).__name__}: {error}"
        return None


UNLOADABLE: dict[str, str] = {}
"""Compiled modules that are there but failed to load, with the error (the daemon logs it)."""


batch: Final = compiled("monitor.ledger._batch")
"""The compiled ``PipelineLedger.observe`` loop (``_batch.observe``), or None."""

NAME: Final[Literal["compiled", "python"]] = "compiled" if batch is not None else "python"
"""Which ingest core this process runs, for the log and the benchmarks."""
