"""A realistic, seeded demo feed: the sector's units, their staff, a year of nominations.

Pure data: `deploy.demo` publishes it; tests build scenarios from it.
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
               unit_id: str | None = None) -> NominationSubmitted:
    title, sector_field = model
    if individual:
        nominee = Nominee(kind=NomineeKind.INDIVIDUAL, name=individual.full_name, staff_id=individual.staff_id,
                          position="Trưởng phòng")
    else:
        nominee = Nominee(kind=NomineeKind.COLLECTIVE, name=f"Tập thể mô hình “{title}”", members=12)
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
        started_on=dt.date(year - 2, 3, 1), submitter_id=submitter or member.staff_id)


def nomination_events(year: int = 2024, seed: int = 7) -> list[Event]:
    """A year of nominations: most acceptable, some to be refused, one withdrawn."""
    people = staff(seed)
    officers = {m.unit_id: m for m in people if Role.EMULATION_OFFICER in m.roles}
    plain = {m.unit_id: m for m in people if not m.roles}
    subs: list[NominationSubmitted] = []
    for n, (uid, officer) in enumerate(sorted(officers.items())):
        model = MODELS[n % len(MODELS)]
        subs.append(submission(f"NOM-{year}-{uid}-1", officer, year, model))
        if n % 2 == 0:
            subs.append(submission(f"NOM-{year}-{uid}-2", officer, year, MODELS[(n + 5) % len(MODELS)],
                                   individual=plain[uid]))
    first = officers["QLDD"]
    subs += [
        submission(f"NOM-{year}-QLDD-3", first, year, MODELS[1]),  # QUOTA_EXCEEDED: third of the year
        submission(f"NOM-{year}-XX-1", first, year, MODELS[2], unit_id="CUC-KHONG-TON-TAI"),  # unknown unit
        submission(f"NOM-2019-QLDD-1", first, 2019, MODELS[0]),  # YEAR_NOT_OPEN
        submission(f"NOM-{year}-VT-9", officers["VT"], year, MODELS[11], field="forestry"),  # FIELD_UNKNOWN
        submission(f"NOM-{year}-BHD-9", officers["BHD"], year, MODELS[10], submitter=officers["VT"].staff_id),
    ]
    events = [new_event(s, key=s.nomination_id, source=f"urn:unit:{s.unit_id}", id_parts=(s.nomination_id,))
              for s in subs]
    withdraw = NominationWithdrawn(nomination_id=f"NOM-{year}-BDKH-1", unit_id="BDKH",
                                   requested_by=officers["BDKH"].staff_id, reason="Đơn vị bổ sung hồ sơ cho năm sau")
    events.append(new_event(withdraw, key=withdraw.nomination_id, source="urn:unit:BDKH", id_parts=("withdraw",)))
    return events
