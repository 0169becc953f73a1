"""Known people's encodings, and naming a face by its nearest known encoding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Match:
    name: str | None
    distance: float | None


@dataclass(frozen=True)
class Gallery:
    """Enrolled encodings, one row each, and the person each belongs to."""

    names: tuple[str, ...] = ()
    encodings: np.ndarray = field(default_factory=lambda: np.zeros((0, 128)))

    @classmethod
    def from_people(cls, people: Mapping[str, Sequence[Sequence[float]]]) -> Gallery:
        names: list[str] = []
        rows: list[Sequence[float]] = []
        for name in sorted(people):
            for encoding in people[name]:
                names.append(name)
                rows.append(encoding)
        matrix = np.array(rows, dtype=np.float64).reshape(len(rows), 128)
        return cls(tuple(names), matrix)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def people(self) -> list[str]:
        return sorted(set(self.names))

    def identify(self, encoding: np.ndarray, tolerance: float) -> Match:
        """The nearest enrolled person, or name None when nobody is within ``tolerance``."""
        if not self.names:
            return Match(None, None)
        distances = np.linalg.norm(self.encodings - encoding, axis=1)
        best = int(np.argmin(distances))
        distance = float(distances[best])
        return Match(self.names[best] if distance <= tolerance else None, round(distance, 4))
