"""A realistic, seeded demo feed: the sector's units, their staff, each year's nominations.

Pure data: `deploy.demo` publishes it (and answers the evaluations service with
`services.evaluations.demo_feed`); tests build scenarios from it. The same seed gives the
same events, ids included.
"""

import datetime as dt
import random
from dataclasses import dataclass

from shared.envelope import Event, new_event
from shared.events import Evidence, NominationSubmitted, NominationWithdrawn, Nominee, StaffRegistered, UnitRegistered
from shared.vocabulary import EvidenceKind, Field, NomineeKind, Role, UnitKind

SOURCE = "urn:exemplars:demo"

# (unit id, name, kind, fields, valid_from, valid_to, parent)
UNITS: list[tuple[str, str, UnitKind, list[Field], str, str | None, str | None]] = [
    ("BTNMT", "Bộ Tài nguyên và Môi trường", UnitKind.MINISTRY, [], "2002-08-05", "2025-02-28", None),
    ("BNNMT", "Bộ Nông nghiệp và Môi trường", UnitKind.MINISTRY, [], "2025-03-01", None, None),
    ("VP", "Văn phòng Bộ", UnitKind.DEPARTMENT, [], "2002-08-05", None, "BNNMT"),
    ("QLDD", "Cục Quản lý đất đai", UnitKind.AGENCY, [Field.LAND], "2022-01-01", None, "BNNMT"),
    ("QLTNN", "Cục Quản lý tài nguyên nước", UnitKind.AGENCY, [Field.WATER_RESOURCES], "2008-01-01", None, "BNNMT"),
    ("DCKS", "Cục Địa chất và Khoáng sản Việt Nam", UnitKind.AGENCY, [Field.GEOLOGY, Field.MINERALS], "2022-09-01", None, "BNNMT"),
    ("KSONMT", "Cục Kiểm soát ô nhiễm môi trường", UnitKind.AGENCY, [Field.ENVIRONMENT], "2022-08-01", None, "BNNMT"),
    ("KTTV", "Cục Khí tượng Thủy văn", UnitKind.AGENCY, [Field.HYDROMETEOROLOGY], "2022-10-01", None, "BNNMT"),
    ("BDKH", "Cục Biến đổi khí hậu", UnitKind.AGENCY, [Field.CLIMATE_CHANGE], "2017-09-01", None, "BNNMT"),
    ("DDBD", "Cục Đo đạc, Bản đồ và Thông tin địa lý Việt Nam", UnitKind.AGENCY, [Field.SURVEYING_MAPPING], "2017-09-01", None, "BNNMT"),
    ("BHD", "Cục Biển và Hải đảo Việt Nam", UnitKind.AGENCY, [Field.SEAS_ISLANDS], "2022-10-01", None, "BNNMT"),
    ("VT", "Cục Viễn thám quốc gia", UnitKind.AGENCY, [Field.REMOTE_SENSING], "2017-09-01", None, "BNNMT"),
    ("VKTTV", "Viện Khoa học Khí tượng Thủy văn và Biến đổi khí hậu", UnitKind.INSTITUTE,
     [Field.HYDROMETEOROLOGY, Field.CLIMATE_CHANGE], "2013-01-01", None, "BNNMT"),
    ("TTDL", "Trung tâm Thông tin và Dữ liệu tài nguyên và môi trường", UnitKind.CENTRE,
     [Field.REMOTE_SENSING, Field.LAND], "2015-01-01", None, "BNNMT"),
    ("STNMT-HN", "Sở Tài nguyên và Môi trường Hà Nội", UnitKind.PROVINCIAL_DEPARTMENT,
     [Field.LAND, Field.ENVIRONMENT], "2008-08-01", "2025-02-28", None),
    ("SNNMT-HN", "Sở Nông nghiệp và Môi trường Hà Nội", UnitKind.PROVINCIAL_DEPARTMENT,
     [Field.LAND, Field.ENVIRONMENT], "2025-03-01", None, None),
    ("STNMT-HCM", "Sở Tài nguyên và Môi trường Thành phố Hồ Chí Minh", UnitKind.PROVINCIAL_DEPARTMENT,
     [Field.LAND, Field.WATER_RESOURCES], "2008-01-01", None, None),
    ("STNMT-QN", "Sở Tài nguyên và Môi trường Quảng Ninh", UnitKind.PROVINCIAL_DEPARTMENT,
     [Field.MINERALS, Field.SEAS_ISLANDS], "2008-01-01", None, None),
]

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương"]
MIDDLE = ["Văn", "Thị", "Minh", "Thu", "Hữu", "Đức", "Ngọc", "Thanh", "Quốc", "Hoài", "Bảo"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Hương", "Khánh", "Lan", "Linh",
         "Long", "Mai", "Minh", "Nam", "Nga", "Phong", "Phương", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Yến"]

MODELS = [
    ("Số hóa hồ sơ địa chính dùng chung", Field.LAND),
    ("Một cửa liên thông cấp giấy chứng nhận quyền sử dụng đất", Field.LAND),
    ("Giám sát khai thác nước dưới đất trực tuyến", Field.WATER_RESOURCES),
    ("Bản đồ nguy cơ sạt lở đất cấp xã", Field.GEOLOGY),
    ("Truy xuất nguồn gốc khoáng sản bằng mã QR", Field.MINERALS),
    ("Quan trắc chất lượng không khí tự động dùng chung", Field.ENVIRONMENT),
    ("Phân loại rác tại nguồn ở khu dân cư", Field.ENVIRONMENT),
    ("Dự báo mưa lớn hạn cực ngắn cho vùng núi", Field.HYDROMETEOROLOGY),
    ("Kiểm kê khí nhà kính cấp cơ sở", Field.CLIMATE_CHANGE),
    ("Cơ sở dữ liệu nền địa lý quốc gia cập nhật liên tục", Field.SURVEYING_MAPPING),
    ("Quản lý tổng hợp vùng bờ dựa vào cộng đồng", Field.SEAS_ISLANDS),
    ("Giám sát biến động rừng ngập mặn bằng ảnh vệ tinh", Field.REMOTE_SENSING),
]


# More models per field, so a phase of several years reads like one: (title, field).
CATALOGUE: dict[Field, list[str]] = {
    Field.LAND: ["Số hóa hồ sơ địa chính dùng chung", "Một cửa liên thông cấp giấy chứng nhận quyền sử dụng đất",
                 "Bản đồ giá đất trực tuyến phục vụ người dân", "Hòa giải tranh chấp đất đai tại cơ sở"],
    Field.WATER_RESOURCES: ["Giám sát khai thác nước dưới đất trực tuyến",
                            "Cấp phép tài nguyên nước qua dịch vụ công toàn trình",
                            "Bảo vệ nguồn nước sinh hoạt dựa vào cộng đồng"],
    Field.GEOLOGY: ["Bản đồ nguy cơ sạt lở đất cấp xã", "Cảnh báo sớm trượt lở cho vùng núi phía Bắc",
                    "Số hóa tài liệu địa chất lưu trữ"],
    Field.MINERALS: ["Truy xuất nguồn gốc khoáng sản bằng mã QR", "Giám sát vận chuyển khoáng sản bằng camera",
                     "Phục hồi môi trường sau khai thác mỏ"],
    Field.ENVIRONMENT: ["Quan trắc chất lượng không khí tự động dùng chung", "Phân loại rác tại nguồn ở khu dân cư",
                        "Xử lý nước thải làng nghề bằng công nghệ sinh học", "Chợ không rác thải nhựa"],
    Field.HYDROMETEOROLOGY: ["Dự báo mưa lớn hạn cực ngắn cho vùng núi", "Bản tin cảnh báo lũ quét đến từng xã",
                             "Trạm đo mưa tự động do cộng đồng quản lý"],
    Field.CLIMATE_CHANGE: ["Kiểm kê khí nhà kính cấp cơ sở", "Sinh kế thích ứng với xâm nhập mặn",
                           "Nhà chống bão cho hộ nghèo ven biển"],
    Field.SURVEYING_MAPPING: ["Cơ sở dữ liệu nền địa lý quốc gia cập nhật liên tục", "Trạm định vị vệ tinh CORS dùng chung",
                              "Bản đồ số phục vụ quy hoạch cấp xã"],
    Field.SEAS_ISLANDS: ["Quản lý tổng hợp vùng bờ dựa vào cộng đồng", "Ngày hội làm sạch bờ biển",
                         "Giám sát rác thải nhựa đại dương"],
    Field.REMOTE_SENSING: ["Giám sát biến động rừng ngập mặn bằng ảnh vệ tinh",
                           "Phát hiện khai thác cát trái phép bằng ảnh viễn thám", "Theo dõi hạn hán bằng dữ liệu vệ tinh"],
}
TEAMS = ["Phòng Nghiệp vụ", "Phòng Kỹ thuật", "Tổ công tác chuyển đổi số", "Phòng Dữ liệu", "Đội Kiểm tra",
         "Phòng Tổng hợp"]
POSITIONS = ["Trưởng phòng", "Phó Trưởng phòng", "Chuyên viên chính"]


@dataclass(frozen=True)
class StaffMember:
    staff_id: str
    unit_id: str
    full_name: str
    roles: tuple[Role, ...]
    fields: tuple[Field, ...]


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def units() -> list[UnitRegistered]:
    return [UnitRegistered(unit_id=uid, name=name, kind=kind, fields=fields, parent_id=parent,
                           valid_from=_day(start), valid_to=_day(end), email=f"{uid.lower()}@monre.gov.vn")
            for uid, name, kind, fields, start, end, parent in UNITS]


def staff(seed: int = 7, evaluators_per_unit: int = 2) -> list[StaffMember]:
    rng = random.Random(seed)
    people = []
    for uid, _, kind, fields, _, end, _ in UNITS:
        if kind is UnitKind.MINISTRY or end is not None:
            continue
        roles: list[tuple[Role, ...]] = [(Role.UNIT_LEADER,), (Role.EMULATION_OFFICER,)]
        roles += [(Role.EVALUATOR,)] * evaluators_per_unit + [()] * 2
        if uid == "VP":
            roles.append((Role.MINISTRY_OFFICE,))
        for n, role in enumerate(roles, start=1):
            name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
            expertise = tuple(fields) or (rng.choice(list(Field)),)
            people.append(StaffMember(f"{uid}-{n:02d}", uid, name, role, expertise))
    return people


def staff_event(member: StaffMember) -> StaffRegistered:
    return StaffRegistered(staff_id=member.staff_id, unit_id=member.unit_id, full_name=member.full_name,
                           email=f"{member.staff_id.lower()}@monre.gov.vn", roles=list(member.roles),
                           fields=list(member.fields), position="Chuyên viên")


def directory_events() -> list[Event]:
    events = [new_event(u, key=u.unit_id, source=SOURCE, id_parts=(u.unit_id,)) for u in units()]
    events += [new_event(staff_event(m), key=m.unit_id, source=SOURCE, id_parts=(m.staff_id,)) for m in staff()]
    return events


def submission(nomination_id: str, member: StaffMember, year: int, model: tuple[str, Field], *,
               individual: StaffMember | None = None, submitter: str | None = None, field: str | None = None,
               unit_id: str | None = None, team: str | None = None, position: str = "Trưởng phòng",
               disciplinary_record: bool = False) -> NominationSubmitted:
    title, sector_field = model
    if individual:
        nominee = Nominee(kind=NomineeKind.INDIVIDUAL, name=individual.full_name, staff_id=individual.staff_id,
                          position=position)
    else:
        nominee = Nominee(kind=NomineeKind.COLLECTIVE, name=team or f"Tập thể mô hình “{title}”", members=12)
    return NominationSubmitted(
        nomination_id=nomination_id, unit_id=unit_id or member.unit_id, year=year, nominee=nominee,
        field=field or sector_field.value, movement="Phong trào thi đua “Ngành tài nguyên và môi trường chung sức "
                                                    "xây dựng nông thôn mới”",
        title=title, summary=f"Mô hình “{title}” rút ngắn thời gian xử lý và được nhiều đơn vị học tập.",
        achievements=["Giảm 35% thời gian xử lý hồ sơ", "Đã có 4 đơn vị áp dụng", "Tập huấn cho 120 cán bộ"],
        evidence=[Evidence(kind=EvidenceKind.ACHIEVEMENT_REPORT, title="Báo cáo thành tích",
                           url=f"https://vanban.monre.gov.vn/{nomination_id}/bao-cao.pdf"),
                  Evidence(kind=EvidenceKind.REVIEW_MINUTES, title="Biên bản bình xét",
                           url=f"https://vanban.monre.gov.vn/{nomination_id}/bien-ban.pdf")],
        started_on=dt.date(year - 2, 3, 1), disciplinary_record=disciplinary_record,
        submitter_id=submitter or member.staff_id)


def active_in(unit_id: str, year: int) -> bool:
    """As the nominations service judges it: the unit is valid on at least one day of `year`."""
    _, _, _, _, start, end, _ = next(u for u in UNITS if u[0] == unit_id)
    return dt.date.fromisoformat(start).year <= year and (end is None or dt.date.fromisoformat(end).year >= year)


def adopting_units() -> list[tuple[str, dt.date, dt.date | None]]:
    """Units that may apply another unit's model, with their validity (ministries do not)."""
    return [(uid, _day(start), _day(end)) for uid, _, kind, _, start, end, _ in UNITS if kind is not UnitKind.MINISTRY]


DEFAULT_SEED = 7
# Units the deliberate refusals name: never the unit that stays silent for the whole phase.
_REFUSAL_UNITS = ("QLDD", "VT", "BHD", "SNNMT-HN")


def silent_unit(seed: int = 7) -> str:
    """The unit that never nominates, whatever the year: the report must find it."""
    officers = sorted({m.unit_id for m in staff() if Role.EMULATION_OFFICER in m.roles} - set(_REFUSAL_UNITS))
    return random.Random(f"silent:{seed}").choice(officers)


def nomination_waves(year: int = 2024, seed: int = 7) -> tuple[list[Event], list[Event]]:
    """A year of nominations in two waves.

    The first wave is what units send during the year: each active unit 0, 1 or 2
    nominations (one unit never), plus refusals that do not depend on order (unknown unit,
    closed unit, closed year, unknown field, submitter of another unit). The second wave
    must come after the first has been answered, because its outcome depends on it: a
    third nomination over the quota, the same nominee again, and a withdrawal.
    """
    rng = random.Random(f"nominations:{seed}:{year}")
    people = staff()
    officers = {m.unit_id: m for m in people if Role.EMULATION_OFFICER in m.roles}
    plain = {uid: [m for m in people if m.unit_id == uid and not m.roles] for uid in officers}
    fields = {uid: fs for uid, _, _, fs, _, _, _ in UNITS}
    names = {uid: name for uid, name, *_ in UNITS}
    quiet = silent_unit(seed)
    # Another seed is another dataset: its ids differ, so it can be played on the same stack.
    tag = "" if seed == DEFAULT_SEED else f"-S{seed}"
    first: list[NominationSubmitted] = []
    by_unit: dict[str, list[NominationSubmitted]] = {}
    used: set[str] = set()  # one title per year, so the year's list reads clearly
    for n, uid in enumerate(sorted(officers)):
        if uid == quiet or not active_in(uid, year):
            continue
        count = rng.choices([0, 1, 2], weights=[1, 4, 4])[0]
        pool = [(title, f) for f in (fields[uid] or [rng.choice(list(Field))]) for title in CATALOGUE[f]]
        start = 3 * year + n
        pool = pool[start % len(pool):] + pool[:start % len(pool)]
        pool = [m for m in pool if m[0] not in used] + [m for m in pool if m[0] in used]
        for k in range(count):
            model = pool[k]
            used.add(model[0])
            nid = f"NOM-{year}-{uid}-{k + 1}{tag}"
            if k == 1:  # the second of a unit is a person, the first a team
                person = plain[uid][year % len(plain[uid])]
                sub = submission(nid, officers[uid], year, model, individual=person, position=rng.choice(POSITIONS))
            else:
                team = f"{rng.choice(TEAMS)}, {names[uid]}"
                sub = submission(nid, officers[uid], year, model, team=team)
            by_unit.setdefault(uid, []).append(sub)
            first.append(sub)
    collectives = [s for s in first if s.nominee.kind is NomineeKind.COLLECTIVE]
    if collectives:  # a member disciplined: the gate fails whatever the scores
        flagged = rng.choice(collectives)
        first[first.index(flagged)] = flagged.model_copy(update={"disciplinary_record": True})
    qldd = officers["QLDD"]
    first += [
        submission(f"NOM-{year}-XX-1{tag}", qldd, year, MODELS[2], unit_id="CUC-KHONG-TON-TAI"),  # UNIT_NOT_REGISTERED
        submission(f"NOM-2019-QLDD-1{tag}", qldd, 2019, MODELS[0]),  # YEAR_NOT_OPEN (the same event every year)
        submission(f"NOM-{year}-VT-9{tag}", officers["VT"], year, MODELS[11], field="forestry"),  # FIELD_UNKNOWN
        submission(f"NOM-{year}-BHD-9{tag}", officers["BHD"], year, MODELS[10], submitter=officers["VT"].staff_id),
    ]
    if not active_in("SNNMT-HN", year):  # the merged department's system replays an old file: UNIT_NOT_ACTIVE
        first.append(submission(f"NOM-{year}-SNNMT-HN-1{tag}", officers["SNNMT-HN"], year, MODELS[6]))

    full = sorted(uid for uid, subs in by_unit.items() if len(subs) == 2)
    single = sorted(uid for uid, subs in by_unit.items() if len(subs) == 1)
    second: list[NominationSubmitted] = []
    if full:
        over = full[0]
        model = (by_unit[over][0].title, Field(by_unit[over][0].field))
        second.append(submission(f"NOM-{year}-{over}-3{tag}", officers[over], year, model,
                                 team=f"Tổ công tác liên ngành, {names[over]}"))  # QUOTA_EXCEEDED
    if single:
        again = by_unit[single[-1]][0]
        second.append(again.model_copy(update={"nomination_id": f"NOM-{year}-{again.unit_id}-5{tag}"}))  # NOMINEE_ALREADY_NOMINATED
    events = [_submitted(s) for s in first]
    late = [_submitted(s) for s in second]
    if len(full) > 1:
        leaving = by_unit[full[-1]][1]
        withdraw = NominationWithdrawn(nomination_id=leaving.nomination_id, unit_id=leaving.unit_id,
                                       requested_by=officers[leaving.unit_id].staff_id,
                                       reason="Đơn vị bổ sung hồ sơ cho năm sau")
        late.append(new_event(withdraw, key=withdraw.nomination_id, source=f"urn:unit:{leaving.unit_id}",
                              id_parts=(withdraw.nomination_id, "withdraw")))
    return events, late


def nomination_events(year: int = 2024, seed: int = 7) -> list[Event]:
    """A year of nominations: most acceptable, some to be refused, one withdrawn (both waves)."""
    first, second = nomination_waves(year, seed)
    return first + second


def _submitted(sub: NominationSubmitted) -> Event:
    return new_event(sub, key=sub.nomination_id, source=f"urn:unit:{sub.unit_id}", id_parts=(sub.nomination_id,))
