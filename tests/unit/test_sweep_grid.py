"""The grid of git run sweep: -p parsing, the product, random points."""
from __future__ import annotations

import pytest

from gitruns.errors import UsageError
from gitruns.sweep import PointResult, SweepOptions, SweepResult, _metric_columns, choose, grid, parse_params


def test_values_are_split_on_commas_and_typed_as_p_values() -> None:
    axes = parse_params(["lr=1e-4,3e-4", "layers=2,4", "opt=adam"])
    assert [a.key for a in axes] == ["lr", "layers", "opt"]
    assert axes[0].values == [1e-4, 3e-4] and axes[0].texts == ["1e-4", "3e-4"]
    assert axes[1].values == [2, 4]
    assert axes[2].values == ["adam"]


def test_the_grid_is_the_product_in_the_order_given() -> None:
    axes = parse_params(["a=1,2", "b=x,y,z"])
    points = [[axes[0].values[i], axes[1].values[j]] for i, j in grid(axes)]
    assert points == [[1, "x"], [1, "y"], [1, "z"], [2, "x"], [2, "y"], [2, "z"]]


@pytest.mark.parametrize("bad", ["a", "=1", "a=", "a=1,,2", " =3"])
def test_bad_syntax(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_params([bad])


def test_a_key_twice_and_no_key_are_refused() -> None:
    with pytest.raises(UsageError, match="twice"):
        parse_params(["a=1", "a=2"])
    with pytest.raises(UsageError):
        parse_params([])


def test_random_points_depend_on_the_seed_only() -> None:
    points = grid(parse_params(["a=1,2,3,4", "b=1,2,3"]))
    one, seed = choose(points, 5, 7)
    two, _ = choose(points, 5, 7)
    assert seed == 7 and one == two and len(one) == 5
    assert len({tuple(p) for p in one}) == 5  # without replacement
    assert one == sorted(one)  # kept in grid order
    drawn, seed = choose(points, 2, None)
    assert isinstance(seed, int) and choose(points, 2, seed)[0] == drawn
    assert choose(points, 100, 1)[0] == points  # more than the grid: all of it
    assert choose(points, None, None) == (points, None)


def _result(sort: str | None) -> SweepResult:
    points = [PointResult(0, {"a": 1}, "r0", "succeeded", 0, {"acc": 0.5}),
              PointResult(1, {"a": 2}, "r1", "failed", 1, {"acc": 0.9}, "boom"),
              PointResult(2, {"a": 3}, "r2", "succeeded", 0, {"acc": 0.7}),
              PointResult(3, {"a": 4}, "r3", "succeeded", 0, {}),
              PointResult(4, {"a": 5}, None, "not started")]
    return SweepResult("s", 5, False, None, ["a"], points, sort=sort)


def test_the_table_order_sort_ascending_descending_failed_last() -> None:
    assert [p.index for p in _result("acc").ordered()] == [0, 2, 3, 1, 4]
    assert [p.index for p in _result("-acc").ordered()] == [2, 0, 3, 1, 4]
    assert [p.index for p in _result(None).ordered()] == [0, 2, 3, 1, 4]
    assert _result("acc").exit_code == 1


def test_the_metric_columns_are_those_named_or_those_every_success_shares() -> None:
    res = _result(None)
    assert _metric_columns(res.points, SweepOptions(params=[], metrics=["loss"], sort="-acc")) == ["acc", "loss"]
    assert _metric_columns(res.points, SweepOptions(params=[])) == []  # r3 has none
    res.points[3].metrics = {"acc": 0.1, "loss": 2}
    assert _metric_columns(res.points, SweepOptions(params=[])) == ["acc"]


def test_random_points_of_a_huge_grid_are_drawn_without_making_it() -> None:
    """1000 x 1000 x 1000 values: --random 2 must not build a billion points (review)."""
    from gitruns.sweep import MAX_POINTS, grid_size, point_at, select

    values = ",".join(str(i) for i in range(1000))
    axes = parse_params([f"a={values}", f"b={values}", f"c={values}"])
    assert grid_size(axes) == 10**9
    picked, seed = select(axes, 2, 1)
    assert seed == 1 and len(picked) == 2 and picked == sorted(picked)
    small = parse_params(["a=1,2,3", "b=x,y"])
    assert [point_at(small, i) for i in range(grid_size(small))] == grid(small)
    assert select(small, 4, 9)[0] == choose(grid(small), 4, 9)[0]  # the same draw as before
    with pytest.raises(UsageError, match=f"more than {MAX_POINTS:,}: run --random K"):
        select(axes, None, None)
