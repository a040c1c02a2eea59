"""The contract between the engine and every routing strategy.

A strategy is pure: given what is left to place of a parent, the consolidated book, the
venues' state and the time, it returns child order plans. The engine owns all state and
calls it again whenever the parent has quantity that nothing is working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Protocol

from sor_daemon.domain import OrdType, Side, TimeInForce
from sor_daemon.market import ConsolidatedBook


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What a strategy sees of a parent order."""

    symbol: str
    side: Side
    ord_type: OrdType
    limit: Decimal | None
    tif: TimeInForce
    qty: int
    """Shares to place now: the parent's leaves less what children are working."""
    pinned_venue: str | None
    exhausted: frozenset[str]
    """Venues where this parent's marketable children missed or were rejected."""


@dataclass(frozen=True, slots=True)
class VenueState:
    name: str
    kind: str
    up: bool


@dataclass(frozen=True, slots=True)
class ChildPlan:
    venue: str
    qty: int
    ord_type: OrdType
    price: Decimal | None
    tif: TimeInForce


class Strategy(Protocol):
    name: ClassVar[str]
    code: ClassVar[int]
    """The TargetStrategy (847) value that selects it (FIX reserves 1000+ for users)."""

    def plan(
        self,
        request: RouteRequest,
        market: ConsolidatedBook,
        venues: Mapping[str, VenueState],
        now_ns: int,
    ) -> list[ChildPlan]: ...
