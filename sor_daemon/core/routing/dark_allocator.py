"""Learning how to split an order across dark pools from censored fills.

Follows Ganchev, Kearns, Nevmyvaka and Wortman Vaughan, "Censored Exploration and the Dark
Pool Problem" (UAI 2009, arXiv:1205.2646; Communications of the ACM 53(5), 2010). Sections
(§) are those of the UAI/arXiv version (§2 model, §3 greedy allocation with known
distributions, §4 the learning algorithm and its analysis, §5 the dark pool experiments),
figures those of the CACM version.

The model (§2, "problem formulation"): each episode ``volume`` shares are split across K
pools; pool k holds a hidden quantity s_k drawn i.i.d. from an unknown distribution P_k and
an allocation v_k executes r_k = min(v_k, s_k). The feedback is *censored*: r_k < v_k
reveals s_k = r_k exactly (a "direct" observation), r_k == v_k only says s_k >= v_k.

* :class:`KaplanMeierEstimator` estimates one pool's tail T(s) = P(s_k >= s) with the
  product-limit (Kaplan-Meier) estimator plus the paper's optimistic modification
  (§4 "the learning algorithm", OptimisticKM in CACM Fig. 3).
* :func:`greedy_allocate` is the paper's greedy (§3, CACM Fig. 1): hand out one unit at a
  time to the pool with the largest marginal fill probability T_k(v_k + 1). For known,
  exact tails it maximises the expected filled volume sum_k E[min(v_k, s_k)] (§3).
* :class:`DarkAllocator` is the allocate / observe / re-estimate loop (CACM Fig. 2).

Everything is counted in *lots* of ``lot_size`` shares to keep it cheap: liquidity is
floored to whole lots (s lots means s * lot_size <= s_k < (s + 1) * lot_size) and the
greedy hands out whole lots; only the last step of an allocation may be a partial lot, so
volumes need not be lot multiples. With ``lot_size=1`` this is exactly the paper's model
in shares. Nothing here is random: ties go to the pool whose name sorts first.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Mapping, Sequence

TailFn = Callable[[int], float]
"""T(s) = P(liquidity >= s lots) for s >= 0: T(0) == 1, non-increasing in s."""

Threshold = float | Callable[[int], float]
"""At-risk count N_{s-1} needed before the estimate of T(s) is trusted (see cut-off)."""

DEFAULT_CUTOFF_THRESHOLD = 8.0
"""Practical default for the cut-off threshold: 8 at-risk observations per level.

The paper's threshold (:func:`paper_cutoff_threshold`) is what its polynomial-time proof
needs; it runs to millions of observations for any realistic volume, which keeps every
pool's cut-off at 0 for ever (every pool's first lot always looks certain, deeper levels
get the plain estimate). The learning test measures this default."""


def paper_cutoff_threshold(max_lots: int, epsilon: float, delta: float) -> Callable[[int], float]:
    """The cut-off threshold of the paper's analysis (§4, CACM Fig. 3):
    N_{s-1} >= 128 (s V / epsilon)^2 ln(2 V / delta), V the largest volume in lots."""
    if max_lots < 1 or epsilon <= 0 or not 0 < delta < 1:
        raise ValueError("need max_lots >= 1, epsilon > 0 and 0 < delta < 1")
    log_term = math.log(2 * max_lots / delta)

    def threshold(s: int) -> float:
        return 128.0 * (s * max_lots / epsilon) ** 2 * log_term

    return threshold


class KaplanMeierEstimator:
    """One pool's tail probabilities from censored fills, in lots of ``lot_size`` shares.

    With D_j the number of direct observations of exactly j lots and N_j the number of
    observations that could have revealed ``liquidity == j`` (direct ones of >= j lots and
    censored ones of > j lots allocated; the paper's D_{i,s} and N_{i,s}), the
    product-limit estimate is ``T^(s) = prod_{j < s} (1 - D_j / N_j)``, a factor with
    N_j == 0 counting as 1 (§4). Beyond the largest level any observation reached, T^ is
    therefore flat: no data never lowers a tail, so an unseen pool has T^ == 1.

    The optimistic modification (§4, OptimisticKM in CACM Fig. 3): the cut-off c is the
    largest s with s == 0 or N_{s-1} >= threshold(s), the deepest level whose estimate
    rests on enough data; the tail one level past it is raised to T~(c + 1) = T^(c) and
    every other level is left alone. So a pool whose first few pings came back empty still
    looks as good one lot deeper as it did at its last trusted level, and the greedy keeps
    trying it until the data at that depth is trusted; :meth:`tail` is this T~. A threshold
    of 0 or 1 never bumps anything: T~ is then the plain estimate.
    """

    def __init__(self, lot_size: int = 1,
                 cutoff_threshold: Threshold = DEFAULT_CUTOFF_THRESHOLD) -> None:
        if lot_size < 1:
            raise ValueError(f"lot_size must be >= 1 (got {lot_size})")
        self._lot = lot_size
        self._threshold = cutoff_threshold
        self._direct: list[int] = []
        """_direct[j]: direct observations of exactly j lots (D_j)."""
        self._censored: list[int] = []
        """_censored[a]: censored observations with a lots allocated (liquidity >= a)."""
        self._count = 0
        self._km: list[float] | None = None
        self._optimistic: list[float] = []
        self._at_risk: list[int] = []
        self._cutoff = 0

    @property
    def lot_size(self) -> int:
        return self._lot

    @property
    def observations(self) -> int:
        """Informative observations so far (allocations of at least one lot)."""
        return self._count

    def observe(self, allocated: int, filled: int) -> None:
        """Record one episode: ``allocated`` shares sent, ``filled`` shares executed.

        ``filled < allocated`` is a direct observation of ``filled // lot_size`` lots;
        ``filled == allocated`` a censored one, liquidity >= ``allocated // lot_size``
        lots. An allocation under one lot that fills in full says nothing and is ignored.
        """
        if allocated < 0 or filled < 0 or filled > allocated:
            raise ValueError(f"need 0 <= filled <= allocated (got {filled} of {allocated})")
        if filled < allocated:
            _bump(self._direct, filled // self._lot)
        else:
            lots = allocated // self._lot
            if lots == 0:
                return
            _bump(self._censored, lots)
        self._count += 1
        self._km = None

    def state(self) -> dict[str, list[int]]:
        """What it has learned, JSON-safe (`load_state` takes it back)."""
        return {"direct": list(self._direct), "censored": list(self._censored),
                "count": [self._count]}

    def load_state(self, state: dict[str, list[int]]) -> None:
        self._direct = [int(n) for n in state["direct"]]
        self._censored = [int(n) for n in state["censored"]]
        self._count = int(state["count"][0])
        self._km = None

    def at_risk(self, s: int) -> int:
        """N_s: observations that could have revealed a liquidity of exactly s lots."""
        self._refresh()
        return self._at_risk[s] if 0 <= s < len(self._at_risk) else 0

    def direct(self, s: int) -> int:
        """D_s: direct observations of exactly s lots."""
        return self._direct[s] if 0 <= s < len(self._direct) else 0

    @property
    def cutoff(self) -> int:
        """c: the deepest level (in lots) whose estimate is trusted; may exceed the data."""
        self._refresh()
        return self._cutoff

    def km_tail(self, s: int) -> float:
        """The plain Kaplan-Meier estimate T^(s) of P(liquidity >= s lots)."""
        return _lookup(self._refresh(), s)

    def tail(self, s: int) -> float:
        """The optimistic estimate T~(s) the allocator uses (:class:`KaplanMeierEstimator`)."""
        self._refresh()
        return _lookup(self._optimistic, s)

    def _refresh(self) -> list[float]:
        if self._km is not None:
            return self._km
        levels = max(len(self._direct), len(self._censored))
        at_risk = [0] * levels
        running = 0  # direct observations of >= j lots plus censored ones of > j lots
        for j in range(levels - 1, -1, -1):
            running += self.direct(j) + (self._censored[j + 1] if j + 1 < len(self._censored)
                                         else 0)
            at_risk[j] = running
        km = [1.0]
        for j in range(levels):
            km.append(km[-1] * (1.0 - self.direct(j) / at_risk[j]) if at_risk[j] else km[-1])
        km.append(km[-1])  # the last entry stands for every deeper level (flat tail)
        cutoff = 0
        for s in range(1, levels + 2):
            n = at_risk[s - 1] if s - 1 < levels else 0
            if n >= self._threshold_at(s):
                cutoff = s
        optimistic = list(km)
        if cutoff + 1 < len(optimistic):
            optimistic[cutoff + 1] = km[cutoff]
        self._at_risk, self._cutoff, self._optimistic, self._km = (
            at_risk, cutoff, optimistic, km)
        return km

    def _threshold_at(self, s: int) -> float:
        threshold = self._threshold
        return threshold(s) if callable(threshold) else threshold


def _bump(counts: list[int], index: int) -> None:
    if index >= len(counts):
        counts.extend([0] * (index + 1 - len(counts)))
    counts[index] += 1


def _lookup(values: list[float], s: int) -> float:
    if s < 0:
        raise ValueError(f"tail level must be >= 0 (got {s})")
    return values[s] if s < len(values) else values[-1]


def expected_fill_for(shares: int, tail: TailFn, lot_size: int = 1) -> float:
    """E[min(shares, liquidity)] in shares for liquidity in whole lots with tail ``tail``:
    lot_size * sum_{j=1..q} T(j) + r * T(q + 1), where shares = q * lot_size + r (§2)."""
    lots, rest = divmod(shares, lot_size)
    total = lot_size * sum(tail(j) for j in range(1, lots + 1))
    return total + (rest * tail(lots + 1) if rest else 0.0)


EXACT_MINIMUM_POOLS = 8
"""With up to this many pools carrying a minimum, :func:`greedy_allocate` is exact (it
tries every set of them to open, 2^n greedy runs); beyond it, a one-pass block greedy."""


def greedy_allocate(volume: int, tails: Mapping[str, TailFn], lot_size: int = 1,
                    minimums: Mapping[str, int] | None = None) -> dict[str, int]:
    """The greedy allocation (§3, CACM Fig. 1) of ``volume`` shares over the pools of
    ``tails``; returns shares per pool, pools given nothing left out.

    Each step hands the next lot (or the partial last lot) to the pool with the highest
    marginal fill probability T_k(v_k + 1), v_k in lots; ties go to the name that sorts
    first. Every step is taken even at probability 0, so the whole volume is placed. With
    exact tails this maximises the expected fill: the objective is a sum of concave
    functions of the v_k (§3).

    ``minimums`` (MinQty, shares) is an extension, not in the paper: a pool must get 0 or at
    least its minimum, which breaks concavity. For a fixed set S of pools that are opened,
    starting each at its minimum and running the greedy on the rest of the volume is
    optimal again (the functions stay concave above the minimums), so with at most
    :data:`EXACT_MINIMUM_POOLS` pools carrying a minimum every affordable S is tried and
    the best kept (ties: the smaller set, then name order): the result is the constrained
    optimum. With more, a one-pass greedy over *blocks* is used: a pool with nothing yet
    offers its minimum rounded up to whole lots (or the rest of the volume if that is
    smaller but still reaches the minimum) as one step, scored by its average fill
    probability E[min(block, s)] / block; it is a heuristic. Either way less than
    ``volume`` is placed only when no eligible pool's minimum fits in it, and then nothing.
    """
    if volume < 0:
        raise ValueError(f"volume must be >= 0 (got {volume})")
    if lot_size < 1:
        raise ValueError(f"lot_size must be >= 1 (got {lot_size})")
    minimums = minimums or {}
    for name, minimum in minimums.items():
        if name not in tails:
            raise ValueError(f"minimum for unknown pool {name!r}")
        if minimum < 0:
            raise ValueError(f"minimum for {name!r} must be >= 0 (got {minimum})")
    names = sorted(tails)
    constrained = [name for name in names if minimums.get(name, 0) > 1]
    if len(constrained) > EXACT_MINIMUM_POOLS:
        return _block_greedy(volume, tails, lot_size, minimums, names)
    free = [name for name in names if name not in constrained]
    best: dict[str, int] = {}
    best_value = -1.0
    for size in range(len(constrained) + 1):
        for opened in itertools.combinations(constrained, size):
            need = sum(minimums[name] for name in opened)
            if need > volume or not (free or opened):
                continue
            start = {name: minimums[name] for name in opened}
            allocation = _greedy_fill(start, sorted([*free, *opened]), volume - need, tails,
                                      lot_size)
            value = sum(expected_fill_for(shares, tails[name], lot_size)
                        for name, shares in allocation.items())
            if value > best_value + 1e-9 * max(1.0, best_value):
                best, best_value = allocation, value
    return {name: best[name] for name in names if best.get(name, 0) > 0}


def _greedy_fill(start: dict[str, int], pools: list[str], remaining: int,
                 tails: Mapping[str, TailFn], lot_size: int) -> dict[str, int]:
    """The paper's greedy from ``start``: up to the next lot boundary at a time, to the
    pool with the highest T(v + 1) (ties: first name; a heap keyed on (-T, name))."""
    allocation = {name: start.get(name, 0) for name in pools}
    heap = [(-tails[name](allocation[name] // lot_size + 1), name) for name in pools]
    heapq.heapify(heap)
    while remaining > 0:
        _, name = heapq.heappop(heap)
        step = min(lot_size - allocation[name] % lot_size, remaining)
        allocation[name] += step
        remaining -= step
        heapq.heappush(heap, (-tails[name](allocation[name] // lot_size + 1), name))
    return allocation


def _block_greedy(volume: int, tails: Mapping[str, TailFn], lot_size: int,
                  minimums: Mapping[str, int], names: list[str]) -> dict[str, int]:
    """One greedy pass where a pool's first step is its minimum as a block (heuristic)."""
    allocation = dict.fromkeys(names, 0)
    remaining = volume
    while remaining > 0:
        best: tuple[float, str, int] | None = None
        for name in names:
            step = _next_step(allocation[name], remaining, minimums.get(name, 0), lot_size)
            if step == 0:
                continue
            rate = _step_rate(allocation[name], step, tails[name], lot_size)
            if best is None or rate > best[0]:
                best = (rate, name, step)
        if best is None:
            break
        _, name, step = best
        allocation[name] += step
        remaining -= step
    return {name: shares for name, shares in allocation.items() if shares > 0}


def _next_step(current: int, remaining: int, minimum: int, lot_size: int) -> int:
    """Shares the pool's next block-greedy step would take; 0 if it cannot take any."""
    if current > 0 or minimum <= 1:
        return min(lot_size - current % lot_size, remaining)
    block = -(-minimum // lot_size) * lot_size
    if remaining >= block:
        return block
    return remaining if remaining >= minimum else 0


def _step_rate(current: int, step: int, tail: TailFn, lot_size: int) -> float:
    """Expected fill per share of adding ``step`` shares to a pool holding ``current``."""
    if current // lot_size == (current + step - 1) // lot_size:
        return tail(current // lot_size + 1)  # within one lot: its marginal probability
    gain = expected_fill_for(current + step, tail, lot_size) - expected_fill_for(
        current, tail, lot_size)
    return gain / step


class DarkAllocator:
    """Splits orders across dark pools and learns each pool's liquidity from its fills:
    the paper's allocate / observe / re-estimate loop (CACM Fig. 2) with one optimistic
    :class:`KaplanMeierEstimator` per pool and :func:`greedy_allocate` on its tails."""

    def __init__(self, pools: Sequence[str], lot_size: int = 100,
                 cutoff_threshold: Threshold = DEFAULT_CUTOFF_THRESHOLD) -> None:
        if not pools or len(set(pools)) != len(pools):
            raise ValueError("pools must be a non-empty list of distinct names")
        self._lot = lot_size
        self._estimators = {name: KaplanMeierEstimator(lot_size, cutoff_threshold)
                            for name in pools}

    @property
    def pools(self) -> tuple[str, ...]:
        return tuple(self._estimators)

    @property
    def lot_size(self) -> int:
        return self._lot

    def estimator(self, pool: str) -> KaplanMeierEstimator:
        return self._estimators[self._known(pool)]

    def allocate(self, volume: int, eligible: Mapping[str, int] | None = None) -> dict[str, int]:
        """Shares per pool for ``volume`` shares (pools given nothing left out).

        ``eligible`` maps the pools that may be used to their minimum size in shares
        (MinQty; 0 for none); ``None`` means every pool, without minimums. See
        :func:`greedy_allocate` for how minimums are handled.
        """
        if eligible is None:
            eligible = dict.fromkeys(self._estimators, 0)
        tails = {self._known(name): self._estimators[name].tail for name in eligible}
        return greedy_allocate(volume, tails, self._lot, eligible)

    def state(self) -> dict[str, dict[str, list[int]]]:
        return {name: estimator.state() for name, estimator in self._estimators.items()}

    def load_state(self, state: dict[str, dict[str, list[int]]]) -> None:
        """Take back what `state` gave, for the pools still configured."""
        for name, learned in state.items():
            if name in self._estimators:
                self._estimators[name].load_state(learned)

    def observe(self, pool: str, allocated: int, filled: int) -> None:
        """Record that ``allocated`` shares sent to ``pool`` executed ``filled``."""
        self._estimators[self._known(pool)].observe(allocated, filled)

    def expected_fill(self, allocation: Mapping[str, int], *, optimistic: bool = False) -> float:
        """Expected shares filled by ``allocation`` under the plain Kaplan-Meier estimates
        (the optimistic ones the greedy maximises, with ``optimistic=True``)."""
        total = 0.0
        for name, shares in allocation.items():
            estimator = self._estimators[self._known(name)]
            tail = estimator.tail if optimistic else estimator.km_tail
            total += expected_fill_for(shares, tail, self._lot)
        return total

    def _known(self, pool: str) -> str:
        if pool not in self._estimators:
            raise ValueError(f"unknown dark pool {pool!r}")
        return pool
