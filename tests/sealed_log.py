"""A log in memory for tests of a person's erasure: records sealed as the producers seal them
(shared/personal.py) with a memory key store, and read back as a consumer reads them, with the
keys the store holds at that moment (so after an erasure, the person's fields read "đã xóa")."""

import datetime as dt
from dataclasses import dataclass, field

from shared import envelope
from shared.envelope import Event, Received
from shared.replay import Logged
from shared.vault import MemoryVault, keys_to_open, keys_to_seal

T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class Record:
    topic: str
    offset: int
    at: dt.datetime
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass
class SealedLog:
    """Every topic's records, sealed as the producers seal them (one partition each)."""

    vault: MemoryVault
    records: list[Record] = field(default_factory=list)

    async def append(self, topic: str, event: Event) -> Record:
        key, value, headers = envelope.encode(event, await keys_to_seal(self.vault, [event]))
        offset = sum(r.topic == topic for r in self.records)
        record = Record(topic, offset, T0 + dt.timedelta(seconds=len(self.records)), key, value,
                        [(n, v.encode()) for n, v in headers.items()])
        self.records.append(record)
        return record

    async def read(self, *records: Record) -> list[Logged]:
        """The records as a consumer decodes them now, with the keys the store holds now."""
        keys = await keys_to_open(self.vault, [r.value for r in records])
        return [Logged(r.topic, 0, r.offset, r.at, envelope.decode(
            r.key, r.value, r.headers, received=Received(r.topic, 0, r.offset, r.at), keys=keys)) for r in records]

    async def events(self, *records: Record) -> list[Event]:
        return [logged.event for logged in await self.read(*records)]

    def of(self, *topics_: str) -> list[Record]:
        return [r for r in self.records if r.topic in topics_]
