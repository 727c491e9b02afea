"""Monthly counts in Ecuador's time zone and dwell times, each counted once per event id."""

from senae_tracking.analytics.stats import DwellTimes, MonthlyTable, month_of


def test_month_is_counted_in_guayaquil_time() -> None:
    assert month_of("2025-02-01T03:00:00Z") == (2025, 1)
    assert month_of("2025-02-01T05:00:00Z") == (2025, 2)
    assert month_of("2025-01-31T23:30:00-05:00") == (2025, 1)


def test_monthly_table_counts_each_event_once_newest_first() -> None:
    table = MonthlyTable()
    assert table.add("attention", {"event_id": "a", "occurred_at": "2025-01-10T10:00:00-05:00"})
    assert not table.add("attention", {"event_id": "a", "occurred_at": "2025-01-10T10:00:00-05:00"})
    table.add("complaint", {"event_id": "b", "occurred_at": "2025-02-10T10:00:00-05:00"})
    assert table.rows() == [
        {"anio": 2025, "mes": 2, "quejas": 1, "atenciones": 0},
        {"anio": 2025, "mes": 1, "quejas": 0, "atenciones": 1},
    ]


def test_dwell_times_per_stage() -> None:
    times = DwellTimes()
    for i, hours in enumerate([1, 2, 3, 4, 10]):
        times.add({"event_id": str(i), "previous_stage": "AFORO", "dwell_seconds": hours * 3600})
    times.add({"event_id": "0", "previous_stage": "AFORO", "dwell_seconds": 99 * 3600})
    times.add({"event_id": "x", "previous_stage": None, "dwell_seconds": None})
    [row] = times.summary(["ARRIBO", "AFORO"])
    assert (row.stage, row.count, row.mean_hours, row.median_hours, row.p90_hours) == (
        "AFORO", 5, 4.0, 3.0, 10.0)
