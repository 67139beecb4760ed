"""What every service does the same way when a person is erased (`person.erased`): their
personal fields in the stored copies of events, the answers above all, read as the log now
reads them (shared/personal.py). Each service's own documents are its handler's to clear.
"""

import copy

from shared import personal
from shared.unit_of_work import ANSWERS, Put, View, Where


def answers_of(person: str) -> Where:
    """The stored answers holding the person's fields (`answer_document`'s `persons`)."""
    return Where(ANSWERS, "persons", (person,))


def cleared_answers(view: View, person: str) -> list[Put]:
    """Every stored answer with the person's fields erased, as a rebuild from the log stores it."""
    changes = []
    for doc in view.where(answers_of(person)):
        output = copy.deepcopy(doc["output"])
        if any([personal.erase(event["type"], event["data"], person) for event in output]):
            changes.append(Put(ANSWERS, {**doc, "output": output}))
    return changes


def cleared_event(doc: dict, person: str) -> dict | None:
    """A stored event document (`envelope.to_document`) with the person's fields erased, or
    None when it holds none of theirs."""
    data = copy.deepcopy(doc["data"])
    return {**doc, "data": data} if personal.erase(doc["type"], data, person) else None
