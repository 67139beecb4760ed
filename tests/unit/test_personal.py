"""Personal fields sealed under their person's key (shared/personal.py): what is sealed, that it
opens only under that key and in its own place, and what an erased person reads as."""

import datetime as dt
import json
import typing

import pytest
from pydantic import BaseModel

from shared import envelope, personal
from shared.envelope import PoisonMessage, new_event
from shared.events import BY_TYPE, NotificationSent, ScoreSubmitted, StaffRegistered
from shared.events.base import ERASED
from shared.vault import MemoryVault, keys_to_open, keys_to_seal
from shared.vocabulary import Role

STAFF = StaffRegistered(staff_id="S-1", unit_id="U-1", full_name="Nguyễn Thị Hoa", position="Chuyên viên",
                        email="hoa@example.gov.vn", roles=[Role.EVALUATOR])
KEYS = {"S-1": personal.new_key(), "S-2": personal.new_key()}


def record(event, keys=KEYS):
    key, value, headers = envelope.encode(event, keys)
    return key, value, [(name, text.encode()) for name, text in headers.items()]


def _declared(model, path: tuple[str, ...]) -> bool:
    name, rest = path[0], path[1:]
    if name not in model.model_fields:
        return False
    annotation = model.model_fields[name].annotation
    if not rest:
        return True
    if rest == ("*",):
        return typing.get_origin(annotation) in (dict, list)
    return isinstance(annotation, type) and issubclass(annotation, BaseModel) and _declared(annotation, rest)


def test_every_declared_field_and_owner_is_in_its_model():
    for event_type, fields in personal.PERSONAL.items():
        for field in fields:
            assert _declared(BY_TYPE[event_type], field.path), (event_type, field.path)
            assert _declared(BY_TYPE[event_type], field.owner), (event_type, field.owner)
    assert not _declared(StaffRegistered, ("full_names",))  # the check can fail


def test_sealed_fields_leave_no_plaintext_and_open_with_the_key():
    key, value, headers = record(new_event(STAFF, key="U-1", source="urn:hr"))
    for secret in (b"Nguy", "Hoa".encode(), b"hoa@example", "Chuyên".encode()):
        assert secret not in value
    assert json.loads(value)["staff_id"] == "S-1" and personal.owners_in(value) == {"S-1"}
    back = envelope.decode(key, value, headers, keys=KEYS).data
    assert (back.full_name, back.email, back.position) == (STAFF.full_name, STAFF.email, STAFF.position)


def test_sealing_the_same_event_twice_gives_the_same_bytes_and_another_event_other_bytes():
    event = new_event(STAFF, key="U-1", source="urn:hr")
    assert record(event)[1] == record(event)[1]
    assert record(new_event(STAFF, key="U-1", source="urn:hr"))[1] != record(event)[1]


def test_without_the_key_a_sealed_field_reads_erased():
    key, value, headers = record(new_event(STAFF, key="U-1", source="urn:hr"))
    for keys in ({}, {"S-1": None}, None):
        back = envelope.decode(key, value, headers, keys=keys).data
        assert (back.full_name, back.email, back.position) == (ERASED, ERASED, ERASED)
        assert back.staff_id == "S-1" and back.roles == [Role.EVALUATOR]  # what is not personal stays


def test_a_sealed_field_opens_only_in_its_place_and_under_its_persons_key():
    key, value, headers = record(new_event(STAFF, key="U-1", source="urn:hr"))
    body = json.loads(value)
    moved = {**body, "position": body["full_name"]}  # another field of the same person
    other = {**body, "staff_id": "S-2", "full_name": body["full_name"].replace("@S-1", "@S-2")}
    altered = {**body, "full_name": body["full_name"][:10] + ("A" if body["full_name"][10] != "A" else "B")
               + body["full_name"][11:]}
    for forged in (moved, other, altered):
        with pytest.raises(PoisonMessage, match="invalid staff.registered payload"):
            envelope.decode(key, json.dumps(forged).encode(), headers, keys=KEYS)


def test_every_comment_of_a_sheet_is_sealed_and_a_collective_or_a_unit_is_nobodys():
    sheet = ScoreSubmitted(nomination_id="N1", evaluator_id="S-2", scores={"a": 1}, comment="Rất tốt",
                           criterion_comments={"a": "Lan tỏa rộng", "b": "Cần số liệu"})
    _, value, _ = record(new_event(sheet, key="N1", source="urn:portal"))
    data = json.loads(value)
    assert all(v.startswith("pd1:") and v.endswith("@S-2") for v in [data["comment"], *data["criterion_comments"].values()])
    to_unit = NotificationSent(delivery_id="d1", notified_event_id="e1", notified_event_type="exemplar.recognized",
                               recipient_id="unit:U-1", channel="email", address="u1@example.gov.vn", attempts=1)
    assert json.loads(record(new_event(to_unit, key="unit:U-1", source="n"))[1])["address"] == "u1@example.gov.vn"


def test_a_field_in_clear_from_an_outside_producer_is_taken_as_it_is():
    key, value, headers = record(new_event(STAFF, key="U-1", source="urn:hr"), keys=None)
    assert b"hoa@example.gov.vn" in value
    assert envelope.decode(key, value, headers, keys={}).data.email == STAFF.email


async def test_the_vault_makes_keys_once_and_an_erased_person_stays_erased():
    vault = MemoryVault()
    event = new_event(STAFF, key="U-1", source="urn:hr")
    first = await keys_to_seal(vault, [event])
    assert await keys_to_seal(vault, [event]) == first  # made once
    key, value, headers = envelope.encode(event, first)
    opening = await keys_to_open(vault, [value])
    assert envelope.decode(key, value, [(n, t.encode()) for n, t in headers.items()], keys=opening).data.full_name \
        == STAFF.full_name
    assert await vault.erase("S-1", dt.datetime.now(dt.UTC))
    assert not await vault.erase("S-1", dt.datetime.now(dt.UTC))  # nothing left to erase
    again = await keys_to_seal(vault, [event])
    assert again == {"S-1": None}  # no new key: data about them is written erased
    assert json.loads(envelope.encode(event, again)[1])["full_name"] == ERASED
    opening = await keys_to_open(vault, [value])
    assert envelope.decode(key, value, [(n, t.encode()) for n, t in headers.items()], keys=opening).data.full_name \
        == ERASED
