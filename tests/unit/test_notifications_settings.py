"""Production mode: the notifications service will not start "sending" into a catcher."""

import pytest
from pydantic import ValidationError

from services.notifications.settings import NotificationsSettings

RELAY = {"production": True, "smtp_host": "smtp.monre.gov.vn", "smtp_port": 587, "smtp_tls": "starttls",
         "mail_from": "khong-tra-loi@monre.gov.vn", "message_id_domain": "thidua.monre.gov.vn"}


def test_a_real_relay_over_tls_starts():
    assert NotificationsSettings(**RELAY).production


@pytest.mark.parametrize(("change", "reason"), [
    ({"smtp_host": "mailpit"}, "local catcher"),
    ({"smtp_host": "127.0.0.1"}, "local catcher"),
    ({"smtp_host": "localhost"}, "local catcher"),
    ({"smtp_host": "[::1]"}, "local catcher"),
    ({"smtp_tls": "none"}, "starttls or tls"),
    ({"mail_from": "khong-tra-loi@exemplars.local"}, "mail_from"),
    ({"message_id_domain": "exemplars.local"}, "message_id_domain"),
])
def test_production_refuses_to_start_without_a_real_relay(change, reason):
    with pytest.raises(ValidationError, match=reason):
        NotificationsSettings(**{**RELAY, **change})


def test_the_local_run_and_the_trial_keep_their_catcher():
    assert NotificationsSettings(smtp_host="mailpit", smtp_tls="none").smtp_host == "mailpit"
