"""ETA comes from measured throughput over a sliding window."""

import io

from services.app.progress import ProgressBar, Throughput, clock


def test_no_eta_before_measurements() -> None:
    meter = Throughput()
    assert meter.eta(10) is None
    meter.record(0.0, 0)
    assert meter.eta(10) is None


def test_eta_from_rate() -> None:
    meter = Throughput(window_s=60)
    for second in range(11):
        meter.record(float(second), second * 2)  # 2 segments per second
    assert meter.rate() == 2.0
    assert meter.eta(100) == 50.0


def test_window_forgets_old_speed() -> None:
    meter = Throughput(window_s=10)
    meter.record(0.0, 0)
    meter.record(1.0, 100)  # a burst (cache hits)
    for second in range(2, 40):
        meter.record(float(second), 100 + (second - 1))  # then 1 per second
    assert abs((meter.rate() or 0) - 1.0) < 0.01


def test_clock() -> None:
    assert clock(None) == "--:--" and clock(65) == "01:05" and clock(3725) == "1:02:05"


def test_plain_output_when_not_a_terminal() -> None:
    out = io.StringIO()
    bar = ProgressBar(stream=out, every_s=0)
    bar.update(0, 10, 0.0, "Book")
    bar.update(5, 10, 30.0, "Book")
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("Book 5/10 segments  50%") and "audio 00:30" in lines[-1]
