"""Unit tests for the Cont & Kukanov (2017) order placement module.

Expected costs are computed exactly (closed-form integrals of the exponential law plus
Simpson quadrature over the first venue's fills), not by Monte Carlo, so the brute-force
optima they are compared with carry no sampling error.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from sor_daemon.core.routing.cont_kukanov import (
    Empirical,
    Exponential,
    VenueQuote,
    fill_amount,
    multi_venue_optimum,
    placement_cost,
    project_feasible,
    single_venue_optimum,
)

# The worked example: h, f, r, theta, lambda_u, Q, S and an exponential outflow.
H, F, R, THETA, LAMBDA_U, QUEUE, TARGET, MEAN = 0.02, 0.003, 0.002, 0.0005, 0.043, 2000, 1000, 2200


# --- exact expected cost for independent exponential venues ---------------------------------

def _integral_cdf(queue: float, mean: float, b: float) -> float:
    """Integral of F(Q + t) dt over [0, b] for an exponential law."""
    return b - mean * math.exp(-queue / mean) * -math.expm1(-b / mean)


def _expected_shortfall(y: float, venue: VenueQuote, limit: float) -> float:
    """E[(y - fills)^+] with fills = min(L, (xi - Q)^+)."""
    if y <= 0:
        return 0.0
    return _integral_cdf(venue.queue, venue.outflow.mean, min(y, limit)) + max(y - limit, 0.0)


def _expected_fill(venue: VenueQuote, limit: float) -> float:
    mean = venue.outflow.mean
    return mean * math.exp(-venue.queue / mean) * -math.expm1(-limit / mean)


def exact_cost(target: float, h: float, f: float, theta: float, lambda_u: float,
               lambda_o: float, venues: list[VenueQuote], market: float,
               limits: list[float], nodes: int = 48) -> float:
    """E[V(X, xi)] for one or two independent exponential venues."""
    gap = target - market
    if len(venues) == 1:
        under = _expected_shortfall(gap, venues[0], limits[0])
    else:
        (v1, v2), (l1, l2) = venues, limits
        m1 = v1.outflow.mean
        under = ((1 - math.exp(-v1.queue / m1)) * _expected_shortfall(gap, v2, l2)
                 + math.exp(-(v1.queue + l1) / m1) * _expected_shortfall(gap - l1, v2, l2))
        if l1 > 0:  # the density part of venue 1's fills, Simpson's rule
            width = l1 / nodes
            acc = 0.0
            for i in range(nodes + 1):
                t = i * width
                weight = 1 if i in (0, nodes) else (4 if i % 2 else 2)
                acc += (weight * _expected_shortfall(gap - t, v2, l2)
                        * math.exp(-(v1.queue + t) / m1) / m1)
            under += acc * width / 3
    fills = [_expected_fill(v, lk) for v, lk in zip(venues, limits, strict=True)]
    over = market + sum(fills) - target + under
    return ((h + f) * market - sum((h + v.rebate) * e for v, e in zip(venues, fills, strict=True))
            + lambda_u * under + lambda_o * over + theta * (market + sum(limits) + under))


def test_exact_cost_agrees_with_monte_carlo_of_placement_cost() -> None:
    venues = [VenueQuote(200, 0.003, 0.002, Exponential(300)),
              VenueQuote(100, 0.003, 0.0, Exponential(200))]
    rng = random.Random(3)
    draws = [[v.outflow.sample(rng) for v in venues] for _ in range(40_000)]
    for market, limits in ((100, [200, 200]), (0, [300, 300]), (50, [100, 250])):
        mc = sum(placement_cost(300, H, F, THETA, 0.06, 0.03, venues, market, limits, xi)
                 for xi in draws) / len(draws)
        exact = exact_cost(300, H, F, THETA, 0.06, 0.03, venues, market, limits)
        assert mc == pytest.approx(exact, rel=0.01)


# --- the cost function ------------------------------------------------------------------------

def test_fill_amount_and_cost_of_one_scenario() -> None:
    venues = [VenueQuote(100, 0.003, 0.002, Exponential(1)),
              VenueQuote(50, 0.003, -0.001, Exponential(1))]
    # Venue 1: 150 out, 100 ahead, fills 50 of 80; venue 2: 40 out < 50 ahead, fills 0.
    assert fill_amount(20, [80, 30], [100, 50], [150, 40]) == 70
    cost = placement_cost(100, 0.01, 0.003, 0.001, 0.05, 0.04, venues, 20, [80, 30], [150, 40])
    expected = 0.013 * 20 - 0.012 * 50 + 0.05 * 30 + 0.001 * (20 + 110 + 30)
    assert cost == pytest.approx(expected)
    over = placement_cost(100, 0.01, 0.003, 0.001, 0.05, 0.04, venues, 90, [80, 30],
                          [150, 40])
    assert over == pytest.approx(0.013 * 90 - 0.012 * 50 + 0.04 * 40 + 0.001 * (90 + 110))


# --- single venue: Proposition 3 -----------------------------------------------------------

@pytest.mark.parametrize("lambda_o", [H + R, 0.05, 1.0])
def test_worked_example(lambda_o: float) -> None:
    """h=0.02, f=0.003, r=0.002, theta=0.0005, Q=2000, S=1000, xi ~ Exp(mean 2200),
    lambda_u=0.043: F(Q + L*) = 0.045 / 0.0655, L* = -2200 ln(1 - 0.687) - 2000 = 555.6."""
    market, limit = single_venue_optimum(TARGET, H, F, R, THETA, LAMBDA_U, lambda_o, QUEUE,
                                         Exponential(MEAN))
    assert market + limit == TARGET
    assert abs(limit - 556) <= 2
    assert abs(market - 444) <= 2


def test_closed_form_is_the_global_optimum_of_the_expected_cost() -> None:
    """Brute force over integer (M, L) in [0, S]^2, so M + L != S is allowed too."""
    venue = VenueQuote(QUEUE, F, R, Exponential(MEAN))
    lambda_o = H + R

    def cost(m: int, lim: int) -> float:
        return exact_cost(TARGET, H, F, THETA, LAMBDA_U, lambda_o, [venue], m, [lim])

    coarse = min(itertools.product(range(0, TARGET + 1, 20), repeat=2), key=lambda x: cost(*x))
    fine = min(itertools.product(range(max(0, coarse[0] - 20), min(TARGET, coarse[0] + 20) + 1),
                                 range(max(0, coarse[1] - 20), min(TARGET, coarse[1] + 20) + 1)),
               key=lambda x: cost(*x))
    market, limit = single_venue_optimum(TARGET, H, F, R, THETA, LAMBDA_U, lambda_o, QUEUE,
                                         venue.outflow)
    assert cost(market, limit) <= cost(*fine) + 1e-9
    assert abs(limit - fine[1]) <= 2 and abs(market - fine[0]) <= 2


def test_closed_form_corners_follow_the_lambda_u_thresholds() -> None:
    dist = Exponential(MEAN)
    numerator = 2 * H + F + R
    high = numerator / dist.cdf(QUEUE) - H - R - THETA
    low = numerator / dist.cdf(QUEUE + TARGET) - H - R - THETA
    assert low < LAMBDA_U < high
    assert single_venue_optimum(TARGET, H, F, R, THETA, high * 1.001, 1.0, QUEUE,
                                dist) == (TARGET, 0)
    assert single_venue_optimum(TARGET, H, F, R, THETA, low * 0.999, 1.0, QUEUE,
                                dist) == (0, TARGET)
    # In between, a higher underfill penalty moves shares from the limit to the market order.
    limits = [single_venue_optimum(TARGET, H, F, R, THETA, lu, 1.0, QUEUE, dist)[1]
              for lu in (0.035, 0.043, 0.06, 0.08)]
    assert limits == sorted(limits, reverse=True) and limits[0] > limits[-1]


def test_empirical_distribution_reproduces_the_exponential_answer() -> None:
    exact = Exponential(MEAN)
    n = 10_000
    learned = Empirical(tuple(exact.quantile((i + 0.5) / n) for i in range(n)))
    got = single_venue_optimum(TARGET, H, F, R, THETA, LAMBDA_U, 1.0, QUEUE, learned)
    want = single_venue_optimum(TARGET, H, F, R, THETA, LAMBDA_U, 1.0, QUEUE, exact)
    assert abs(got[1] - want[1]) <= 2


def test_distributions() -> None:
    exp = Exponential(100)
    assert exp.cdf(-1) == 0 and exp.cdf(0) == 0
    assert exp.cdf(exp.quantile(0.3)) == pytest.approx(0.3)
    assert exp.quantile(1) == math.inf
    rng = random.Random(5)
    assert sum(exp.sample(rng) for _ in range(20_000)) / 20_000 == pytest.approx(100, rel=0.03)

    emp = Empirical([5.0, 1.0, 3.0, 3.0])
    assert emp.samples == (1.0, 3.0, 3.0, 5.0)
    assert [emp.cdf(x) for x in (0.5, 1, 2.9, 3, 5)] == [0, 0.25, 0.25, 0.75, 1]
    assert [emp.quantile(p) for p in (0.1, 0.25, 0.26, 0.75, 0.76, 1.0)] == [1, 1, 3, 3, 5, 5]
    for p in (0.01, 0.3, 0.5, 0.74, 0.99):  # generalised inverse: F(F^-1(p)) >= p, minimal
        x = emp.quantile(p)
        assert emp.cdf(x) >= p and all(emp.cdf(s) < p for s in emp.samples if s < x)
    assert {emp.sample(rng) for _ in range(200)} == {1.0, 3.0, 5.0}
    for bad in ([], [-1.0], [math.nan]):
        with pytest.raises(ValueError):
            Empirical(bad)
    with pytest.raises(ValueError):
        Exponential(0)
    with pytest.raises(ValueError):
        VenueQuote(-1, 0.0, 0.0, exp)


# --- the projection onto C = {M >= 0, L_k >= 0, M + L_k <= S} -------------------------------

def _constraints(k: int, target: float) -> list[tuple[list[float], float]]:
    """Rows (a, b) of a . x <= b, x = (M, L_1..L_K)."""
    rows: list[tuple[list[float], float]] = []
    for i in range(k + 1):
        a = [0.0] * (k + 1)
        a[i] = -1.0
        rows.append((a, 0.0))
    for i in range(1, k + 1):
        a = [0.0] * (k + 1)
        a[0] = a[i] = 1.0
        rows.append((a, target))
    return rows


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting; None when singular."""
    n = len(rhs)
    aug = [[*row, b] for row, b in zip(matrix, rhs, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(aug[r][col]))
        if abs(aug[pivot][col]) < 1e-12:
            return None
        aug[col], aug[pivot] = aug[pivot], aug[col]
        for r in range(n):
            if r != col:
                factor = aug[r][col] / aug[col][col]
                aug[r] = [x - factor * y for x, y in zip(aug[r], aug[col], strict=True)]
    return [aug[i][n] / aug[i][i] for i in range(n)]


def brute_force_projection(y: list[float], target: float) -> list[float]:
    """Nearest point of C by enumerating every active set: the projection is the
    projection of y onto the affine hull of its active constraints, so the closest
    feasible candidate among all those affine projections is it."""
    rows = _constraints(len(y) - 1, target)
    best: list[float] | None = None
    for size in range(len(rows) + 1):
        for active in itertools.combinations(rows, size):
            if active:
                gram = [[sum(p * q for p, q in zip(a, b, strict=True)) for b, _ in active]
                        for a, _ in active]
                resid = [sum(p * q for p, q in zip(a, y, strict=True)) - b for a, b in active]
                mult = _solve(gram, resid)
                if mult is None:
                    continue
                x = [yi - sum(mu * a[i] for mu, (a, _) in zip(mult, active, strict=True))
                     for i, yi in enumerate(y)]
            else:
                x = y[:]
            feasible = all(sum(p * q for p, q in zip(a, x, strict=True)) <= b + 1e-9
                           for a, b in rows)
            if feasible and (best is None or math.dist(x, y) < math.dist(best, y) - 1e-12):
                best = x
    assert best is not None
    return best


def _feasible(market: float, limits: list[float], target: float, tol: float = 1e-9) -> bool:
    return (-tol <= market <= target + tol and all(lk >= -tol for lk in limits)
            and all(market + lk <= target + tol for lk in limits))


def test_projection_is_feasible_and_idempotent() -> None:
    rng = random.Random(11)
    for _ in range(500):
        k = rng.randint(1, 6)
        target = rng.choice([1.0, 10.0, 1000.0])
        y = [rng.uniform(-2 * target, 3 * target) for _ in range(k + 1)]
        market, limits = project_feasible(y[0], y[1:], target)
        assert _feasible(market, limits, target)
        again = project_feasible(market, limits, target)
        assert again[0] == pytest.approx(market) and again[1] == pytest.approx(limits)
        # A feasible point is its own projection.
        m0 = rng.uniform(0, target)
        l0 = [rng.uniform(0, target - m0) for _ in range(k)]
        same = project_feasible(m0, l0, target)
        assert same[0] == pytest.approx(m0) and same[1] == pytest.approx(l0)


def test_projection_matches_brute_force_nearest_point() -> None:
    rng = random.Random(7)
    for case in range(300):
        k = 1 + case % 3
        target = rng.choice([1.0, 5.0, 100.0])
        y = [rng.uniform(-target, 2 * target) for _ in range(k + 1)]
        if case % 5 == 0:
            y[1:] = [target * 1.5] * k  # ties between breakpoints
        market, limits = project_feasible(y[0], y[1:], target)
        want = brute_force_projection(y, target)
        assert [market, *limits] == pytest.approx(want, abs=1e-7)
        # Variational inequality: (y - p) . (z - p) <= 0 for every feasible z.
        for _ in range(20):
            zm = rng.uniform(0, target)
            z = [zm, *(rng.uniform(0, target - zm) for _ in range(k))]
            p = [market, *limits]
            assert sum((a - b) * (c - b) for a, b, c in zip(y, p, z, strict=True)) <= 1e-7


def test_projection_of_zero_target_is_the_origin() -> None:
    assert project_feasible(5.0, [3.0, -1.0], 0.0) == (0.0, [0.0, 0.0])


# --- multiple venues: stochastic approximation --------------------------------------------

TWO_VENUES = [VenueQuote(200, 0.003, 0.002, Exponential(300)),
              VenueQuote(100, 0.003, 0.0, Exponential(200))]


def test_stochastic_approximation_is_within_one_percent_of_brute_force() -> None:
    """Two venues, S = 300: the SA allocation's exact expected cost against the best of a
    10-share grid over C (M, L_1, L_2 multiples of 10 with M + L_k <= S)."""
    target, lambda_u, lambda_o = 300, 0.06, 0.03

    def cost(market: float, limits: list[float]) -> float:
        return exact_cost(target, H, F, THETA, lambda_u, lambda_o, TWO_VENUES, market, limits)

    grid = min(cost(m, [l1, l2]) for m in range(0, target + 1, 10)
               for l1 in range(0, target - m + 1, 10) for l2 in range(0, target - m + 1, 10))
    for seed in range(3):
        market, limits = multi_venue_optimum(target, H, F, THETA, lambda_u, lambda_o,
                                             TWO_VENUES, random.Random(seed), iterations=5000)
        assert _feasible(market, limits, target)
        assert (cost(market, limits) - grid) / abs(grid) <= 0.01
        assert sum(limits) + market > target  # oversizing: more posted than needed


def test_stochastic_approximation_agrees_with_the_closed_form_on_one_venue() -> None:
    venue = VenueQuote(QUEUE, F, R, Exponential(MEAN))
    closed = single_venue_optimum(TARGET, H, F, R, THETA, LAMBDA_U, H + R, QUEUE, venue.outflow)
    market, limits = multi_venue_optimum(TARGET, H, F, THETA, LAMBDA_U, H + R, [venue],
                                         random.Random(1))
    best = exact_cost(TARGET, H, F, THETA, LAMBDA_U, H + R, [venue], closed[0], [closed[1]])
    got = exact_cost(TARGET, H, F, THETA, LAMBDA_U, H + R, [venue], market, limits)
    assert (got - best) / abs(best) <= 0.005


def test_joint_scenarios_drive_the_algorithm() -> None:
    """Outflow vectors observed together (here: independent draws) instead of the venues'
    own laws: the answer costs about what the independent run's does."""
    rng = random.Random(4)
    history = [[v.outflow.sample(rng) for v in TWO_VENUES] for _ in range(2000)]
    market, limits = multi_venue_optimum(300, H, F, THETA, 0.06, 0.03, TWO_VENUES,
                                         random.Random(2), iterations=5000, scenarios=history)
    assert _feasible(market, limits, 300, tol=0)
    independent = multi_venue_optimum(300, H, F, THETA, 0.06, 0.03, TWO_VENUES,
                                      random.Random(2), iterations=5000)
    got = exact_cost(300, H, F, THETA, 0.06, 0.03, TWO_VENUES, market, limits)
    ref = exact_cost(300, H, F, THETA, 0.06, 0.03, TWO_VENUES, *independent)
    assert got == pytest.approx(ref, rel=0.02)
    with pytest.raises(ValueError):
        multi_venue_optimum(300, H, F, THETA, 0.06, 0.03, TWO_VENUES, rng, scenarios=[[1.0]])


def test_results_are_whole_shares_inside_the_constraints() -> None:
    rng = random.Random(9)
    for _ in range(30):
        venues = [VenueQuote(rng.uniform(0, 500), 0.003, rng.uniform(-0.002, 0.004),
                             Exponential(rng.uniform(50, 800))) for _ in range(rng.randint(1, 4))]
        target = rng.randint(1, 2000)
        market, limits = multi_venue_optimum(target, H, F, THETA, rng.uniform(0.03, 0.2),
                                             rng.uniform(0.025, 0.2), venues, rng,
                                             iterations=200)
        assert isinstance(market, int) and all(isinstance(lk, int) for lk in limits)
        assert _feasible(market, limits, target, tol=0)


# --- degenerate cases ---------------------------------------------------------------------

def test_huge_underfill_penalty_means_market_order() -> None:
    assert single_venue_optimum(500, H, F, R, THETA, 10.0, 0.03, 200,
                                Exponential(300)) == (500, 0)
    market, limits = multi_venue_optimum(500, H, F, THETA, 10.0, 0.03, TWO_VENUES,
                                         random.Random(1))
    assert market >= 490 and sum(limits) <= 10


def test_empty_queue_and_high_rebate_means_limit_orders() -> None:
    assert single_venue_optimum(500, H, F, 0.05, THETA, 0.05, 0.1, 0,
                                Exponential(1000)) == (0, 500)
    venues = [VenueQuote(0, 0.003, 0.05, Exponential(1000)),
              VenueQuote(0, 0.003, 0.05, Exponential(800))]
    market, limits = multi_venue_optimum(500, H, F, THETA, 0.05, 0.1, venues, random.Random(1))
    assert market <= 10 and sum(limits) >= 500


def test_nothing_to_buy_means_no_orders() -> None:
    assert single_venue_optimum(0, H, F, R, THETA, LAMBDA_U, 0.03, QUEUE,
                                Exponential(MEAN)) == (0, 0)
    assert multi_venue_optimum(0, H, F, THETA, LAMBDA_U, 0.03, TWO_VENUES,
                               random.Random(1)) == (0, [0, 0])


def test_no_venue_leaves_the_market_order() -> None:
    assert multi_venue_optimum(100, H, F, THETA, 0.05, 0.03, [], random.Random(1)) == (100, [])
    assert multi_venue_optimum(100, H, F, THETA, 0.01, 0.03, [], random.Random(1)) == (0, [])


def test_bad_parameters_are_refused() -> None:
    dist = Exponential(MEAN)
    with pytest.raises(ValueError):
        single_venue_optimum(-1, H, F, R, THETA, LAMBDA_U, 0.03, QUEUE, dist)
    with pytest.raises(ValueError):
        single_venue_optimum(10, H, F, R, -0.1, LAMBDA_U, 0.03, QUEUE, dist)
    with pytest.raises(ValueError):
        multi_venue_optimum(10, H, F, THETA, LAMBDA_U, 0.03, TWO_VENUES, random.Random(1),
                            iterations=0)
    with pytest.raises(ValueError):
        project_feasible(1.0, [1.0], -1.0)
