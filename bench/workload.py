"""The benchmark's feed: the demo directory plus enough extra units for N acceptable nominations.

Every nomination must be accepted, or the later stages (panel, deliveries) would see fewer
events than the intake and the rates would not be comparable. The programme allows 2
accepted nominations per unit and open year, so N nominations need N / (2 x open years)
units of their own; they get one emulation officer each (the submitter), while panels are
drawn from the demo directory's evaluators, as in a real year.
"""

import datetime as dt
import itertools
from collections.abc import Iterator

from deploy import demo_data
from deploy.demo_data import MODELS, StaffMember
from shared.envelope import Event, new_event
from shared.events import UnitRegistered
from shared.programme import default_programme
from shared.vocabulary import Role, UnitKind

SOURCE = "urn:hr:bench"  # the HR producer of the local trust file: its key signs the directory


def slots_per_unit() -> int:
    programme = default_programme()
    return programme.yearly_maximum * len(programme.open_years)


def bench_units(count: int) -> list[tuple[UnitRegistered, StaffMember]]:
    units = []
    for n in range(1, count + 1):
        unit_id = f"BENCH-{n:04d}"
        model_field = MODELS[n % len(MODELS)][1]
        unit = UnitRegistered(unit_id=unit_id, name=f"Trung tâm thử tải số {n}", kind=UnitKind.CENTRE,
                              parent_id="BNNMT", fields=[model_field], valid_from=dt.date(2020, 1, 1),
                              email=f"bench-{n:04d}@monre.gov.vn")
        officer = StaffMember(f"{unit_id}-01", unit_id, f"Cán bộ thi đua {n}", (Role.EMULATION_OFFICER,), (model_field,))
        units.append((unit, officer))
    return units


def directory_events(nominations: int) -> tuple[list[Event], list[StaffMember]]:
    """The demo directory, then the benchmark's units and their officers."""
    units = bench_units(-(-nominations // slots_per_unit()))
    events = demo_data.directory_events()
    events += [new_event(u, key=u.unit_id, source=SOURCE, id_parts=(u.unit_id,)) for u, _ in units]
    events += [new_event(demo_data.staff_event(o), key=o.unit_id, source=SOURCE, id_parts=(o.staff_id,))
               for _, o in units]
    return events, [officer for _, officer in units]


def nominations(officers: list[StaffMember]) -> Iterator[Event]:
    """Acceptable nominations, each in a (unit, open year) slot of its own. One generator feeds
    every phase of a run (warm-up, throughput, latency), so no slot is used twice."""
    programme = default_programme()
    slots = ((officer, year, place) for year in programme.open_years for place in range(programme.yearly_maximum)
             for officer in officers)  # units vary fastest: consecutive nominations hit other units
    for n, (officer, year, place) in enumerate(slots):
        model = MODELS[(n + place) % len(MODELS)]
        nomination_id = f"NOM-{year}-{officer.unit_id}-{place + 1}"
        sub = demo_data.submission(nomination_id, officer, year, model)
        # The nominee must be unique per unit and year, or the second would be refused.
        nominee = sub.nominee.model_copy(update={"name": f"Tập thể “{model[0]}” số {place + 1}"})
        sub = sub.model_copy(update={"nominee": nominee})
        yield new_event(sub, key=nomination_id, source=f"urn:unit:{officer.unit_id}", id_parts=(nomination_id,))


def take(events: Iterator[Event], count: int) -> list[Event]:
    return list(itertools.islice(events, count))
