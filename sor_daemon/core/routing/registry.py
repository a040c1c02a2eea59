"""Every routing strategy by name and by TargetStrategy (847) code."""

from __future__ import annotations

from sor_daemon.core.routing.best_price import BestPrice
from sor_daemon.core.routing.placement import OptimalPlacement
from sor_daemon.core.routing.splits import (
    CostBased,
    DarkFirst,
    LiquidityWeighted,
    RoundRobin,
    Sweep,
)
from sor_daemon.core.routing.strategy import Strategy

STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (BestPrice(), Sweep(), LiquidityWeighted(), RoundRobin(), CostBased(),
                        DarkFirst(), OptimalPlacement())
}
STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGIES)
STRATEGIES_BY_CODE: dict[int, Strategy] = {s.code: s for s in STRATEGIES.values()}
