"""Attribute sets as small integer codes, so the simulator handles them as numpy arrays.

There are only a few hundred distinct attribute sets, so each gets a code once and every observation
with that set shares one tuple object (cheap to build, cheap to hash in the ledger). The visible tuple
keeps only the pipeline's allow-listed keys, as the ingest edge would.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from monitor.records import Attributes
from monitor.sim.traffic import Mix


class AttributeTable:
    """Interns attribute sets: ``full[code]`` has every key, ``visible[code]`` the allow-listed ones."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self._allowed = allowed
        self._codes: dict[Attributes, int] = {}
        self.full: list[Attributes] = []
        self.visible: list[Attributes] = []
        self.empty = self._intern(())

    def _intern(self, pairs: Attributes) -> int:
        code = self._codes.get(pairs)
        if code is None:
            code = len(self.full)
            self._codes[pairs] = code
            self.full.append(pairs)
            self.visible.append(
                tuple(p for p in pairs if not self._allowed or p[0] in self._allowed)
            )
        return code

    def extend(
        self, base: np.ndarray, mixes: Sequence[Mix], indices: Sequence[np.ndarray]
    ) -> np.ndarray:
        """Codes of the sets ``base`` plus ``mix.name = mix.values[index]`` for each mix, per event.

        A key already in the base set is overwritten (a hop may revise what an earlier one said).
        """
        if not mixes:
            return base
        key = base.astype(np.int64)
        for mix, idx in zip(mixes, indices, strict=True):
            key = key * len(mix.values) + idx
        uniq, inverse = np.unique(key, return_inverse=True)
        resolved = np.empty(len(uniq), dtype=np.int64)
        for j, k in enumerate(uniq.tolist()):
            added: dict[str, str] = {}
            for mix in reversed(mixes):
                k, i = divmod(k, len(mix.values))
                added[mix.name] = mix.values[i]
            pairs = dict(self.full[k])
            pairs.update(added)
            resolved[j] = self._intern(tuple(sorted(pairs.items())))
        return resolved[inverse.reshape(-1)]
