from __future__ import annotations

import alerts_lib
from alerts_lib import formatters
from alerts_lib.testing import CapturedAlerts, capture_alerts


def test_capture_records_instead_of_sending() -> None:
    with capture_alerts() as alerts:
        assert alerts_lib.send_slack_alert(formatters.hotswap_succeeded("m", "A", 3, run_id="r"))
        assert alerts_lib.send_slack_alert("plain *mrkdwn*")
        assert alerts_lib.send_slack_alert(None) is False
    assert alerts.texts == ["🔁 [FastAPI] m@A hot-swapped to v3 (run_id=r) · dev", "plain *mrkdwn*"]
    assert alerts[0].alert is not None and alerts[0].payload["blocks"]
    assert alerts.find("hot-swapped") == [alerts[0]]
    assert alerts_lib.stats().delivered == 0
    assert alerts_lib.send_slack_alert("after") is False  # no webhook, capture is over


def test_pytest_fixture_is_registered(captured_alerts: CapturedAlerts) -> None:
    alerts_lib.send_slack_alert("seen by the fixture")
    assert captured_alerts.texts == ["seen by the fixture"]


def test_capture_records_the_destination_asked_for_even_if_this_config_lacks_it() -> None:
    import alerts_lib
    from alerts_lib.testing import capture_alerts

    with capture_alerts() as alerts:
        assert alerts_lib.send_slack_alert("page", destination="oncall")
    assert [a.destination for a in alerts] == [("oncall",)]
