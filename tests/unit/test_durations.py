"""The one way kagglekit writes a time span."""

import pytest

from kagglekit.core.durations import format_duration


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (-5, "0s"), (45.9, "45s"), (60, "1m00s"), (185, "3m05s"), (3300, "55m00s"), (3599, "59m59s"),
    (3600, "1h00m"), (7620, "2h07m"), (43200, "12h00m"), (None, "-"),
])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
