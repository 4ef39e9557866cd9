"""Triton's version policy: the latest N deployed versions, or a fixed list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VersionPolicy:
    latest: int = 1
    specific: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.latest < 1:
            raise ValueError(f"--latest {self.latest}: must be at least 1")
        if any(v < 1 for v in self.specific):
            raise ValueError(f"--version {list(self.specific)}: versions are positive integers")

    def select(self, deployed: list[int]) -> set[int]:
        """The versions to serve among those deployed (a card exists)."""
        if self.specific:
            return set(self.specific) & set(deployed)
        return set(sorted(deployed)[-self.latest :])

    def describe(self) -> str:
        if self.specific:
            return "versions " + ", ".join(str(v) for v in sorted(self.specific))
        return f"latest {self.latest}"
