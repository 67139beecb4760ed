"""The link a mail carries to the task it asks for: into the workspace, signed in as its
recipient (shared/links.py). Only mails to a person that ask them to act (or that give a unit
the council's decision, whose feedback is there) carry one, and only when the workspace's
address and the link secret are set."""

import datetime as dt

from pydantic import SecretStr

from shared import links
from shared.envelope import Event
from shared.links import TaskLink

# Templates that ask their (staff) recipient to score, discuss or declare a conflict on an evaluation.
ASSIGNMENT_TEMPLATES = frozenset({"panel_assigned", "evaluation_reminder", "evaluation_overdue",
                                  "evaluator_replacement", "discussion_opened"})
# ... and to put a completed evaluation before the council: the pack of its year and field.
COUNCIL_TEMPLATES = frozenset({"evaluation_completed"})
# A unit's staff: nominate (the shortfall), or read the council's decision and its feedback.
UNIT_TEMPLATES = frozenset({"quota_shortfall"})
FEEDBACK_TEMPLATES = frozenset({"exemplar_recognized", "exemplar_not_recognized", "exemplar_revoked",
                                "decision_corrected"})


class ActionLinks:
    def __init__(self, base_url: str, secret: SecretStr, days: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret.get_secret_value().encode("utf-8")
        self.days = days

    @classmethod
    def from_settings(cls, settings) -> "ActionLinks | None":
        if not (settings.workspace_url and settings.link_secret):
            return None
        return cls(settings.workspace_url, settings.link_secret, settings.link_days)

    def for_delivery(self, delivery: dict, event: Event, now: dt.datetime) -> str | None:
        """The link for `delivery`, or None. Its id is the delivery's: the mail sent again
        after a failure carries a link that is still the one link."""
        nomination_id = getattr(event.data, "nomination_id", None)
        template = delivery["template"]
        if delivery["recipient_kind"] != "staff":
            return None
        if template in UNIT_TEMPLATES:
            task = links.NOMINATE_TASK
        elif not nomination_id:
            return None
        elif template in ASSIGNMENT_TEMPLATES:
            task = links.assignment_task(nomination_id)
        elif template in COUNCIL_TEMPLATES:
            task = links.council_task(event.data.year, event.data.field)
        elif template in FEEDBACK_TEMPLATES:
            task = links.feedback_task(nomination_id)
        else:
            return None
        link = TaskLink(delivery["_id"], delivery["recipient_id"], task, now + dt.timedelta(days=self.days))
        return f"{self.base_url}/signin?t={links.mint(self._secret, link)}"
