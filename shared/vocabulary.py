"""The sector's shared vocabulary: fields, nominee kinds, roles, and their Vietnamese names.

Codes are stable English slugs (they travel in events and config files); the Vietnamese
names are what people read.
"""

from enum import StrEnum


class Field(StrEnum):
    """The sector's fields (lĩnh vực), after Decree 68/2022."""

    LAND = "land"
    WATER_RESOURCES = "water_resources"
    MINERALS = "minerals"
    GEOLOGY = "geology"
    ENVIRONMENT = "environment"
    HYDROMETEOROLOGY = "hydrometeorology"
    CLIMATE_CHANGE = "climate_change"
    SURVEYING_MAPPING = "surveying_mapping"
    SEAS_ISLANDS = "seas_islands"
    REMOTE_SENSING = "remote_sensing"


FIELD_NAMES_VI: dict[Field, str] = {
    Field.LAND: "Đất đai",
    Field.WATER_RESOURCES: "Tài nguyên nước",
    Field.MINERALS: "Khoáng sản",
    Field.GEOLOGY: "Địa chất",
    Field.ENVIRONMENT: "Môi trường",
    Field.HYDROMETEOROLOGY: "Khí tượng thủy văn",
    Field.CLIMATE_CHANGE: "Biến đổi khí hậu",
    Field.SURVEYING_MAPPING: "Đo đạc và bản đồ",
    Field.SEAS_ISLANDS: "Biển và hải đảo",
    Field.REMOTE_SENSING: "Viễn thám",
}


class NomineeKind(StrEnum):
    COLLECTIVE = "collective"
    INDIVIDUAL = "individual"


NOMINEE_KIND_NAMES_VI: dict[NomineeKind, str] = {
    NomineeKind.COLLECTIVE: "Tập thể",
    NomineeKind.INDIVIDUAL: "Cá nhân",
}


class Role(StrEnum):
    UNIT_LEADER = "unit_leader"
    EMULATION_OFFICER = "emulation_officer"
    EVALUATOR = "evaluator"
    MINISTRY_OFFICE = "ministry_office"


ROLE_NAMES_VI: dict[Role, str] = {
    Role.UNIT_LEADER: "Lãnh đạo đơn vị",
    Role.EMULATION_OFFICER: "Cán bộ thi đua, khen thưởng",
    Role.EVALUATOR: "Thành viên hội đồng đánh giá",
    Role.MINISTRY_OFFICE: "Văn phòng Bộ",
}


class UnitKind(StrEnum):
    MINISTRY = "ministry"
    DEPARTMENT = "department"
    AGENCY = "agency"
    INSTITUTE = "institute"
    CENTRE = "centre"
    PROVINCIAL_DEPARTMENT = "provincial_department"
    OTHER = "other"


class EvidenceKind(StrEnum):
    """Documents of a nomination file (hồ sơ)."""

    PROPOSAL_LETTER = "proposal_letter"  # tờ trình đề nghị
    ACHIEVEMENT_REPORT = "achievement_report"  # báo cáo thành tích
    REVIEW_MINUTES = "review_minutes"  # biên bản bình xét
    INITIATIVE_RECOGNITION = "initiative_recognition"  # quyết định công nhận sáng kiến
    OTHER = "other"


EVIDENCE_KIND_NAMES_VI: dict[EvidenceKind, str] = {
    EvidenceKind.PROPOSAL_LETTER: "Tờ trình đề nghị",
    EvidenceKind.ACHIEVEMENT_REPORT: "Báo cáo thành tích",
    EvidenceKind.REVIEW_MINUTES: "Biên bản bình xét",
    EvidenceKind.INITIATIVE_RECOGNITION: "Quyết định công nhận sáng kiến",
    EvidenceKind.OTHER: "Văn bản khác",
}


class Outcome(StrEnum):
    """Outcome bands of an evaluation (a recommendation to the council)."""

    RECOGNIZE = "recognize"
    FOSTER = "foster"  # tiếp tục bồi dưỡng
    NOT_RECOGNIZED = "not_recognized"


OUTCOME_NAMES_VI: dict[Outcome, str] = {
    Outcome.RECOGNIZE: "Đề nghị công nhận",
    Outcome.FOSTER: "Tiếp tục bồi dưỡng",
    Outcome.NOT_RECOGNIZED: "Không đề nghị công nhận",
}


class RecognitionLevel(StrEnum):
    UNIT = "unit"
    MINISTRY = "ministry"


LEVEL_NAMES_VI: dict[RecognitionLevel, str] = {RecognitionLevel.UNIT: "cấp đơn vị", RecognitionLevel.MINISTRY: "cấp Bộ"}


class RevocationGround(StrEnum):
    """Why the Law on Emulation and Commendation 2022 takes a title back (the reward is recovered)."""

    FRAUD = "fraud"  # gian dối trong kê khai thành tích
    FALSE_DOCUMENTS = "false_documents"  # làm giả hồ sơ, giấy tờ
    UNLAWFUL_APPRAISAL = "unlawful_appraisal"  # xét duyệt, thẩm định, đề nghị trái pháp luật


GROUND_NAMES_VI: dict[RevocationGround, str] = {
    RevocationGround.FRAUD: "gian dối trong kê khai thành tích",
    RevocationGround.FALSE_DOCUMENTS: "làm giả hồ sơ, giấy tờ",
    RevocationGround.UNLAWFUL_APPRAISAL: "xét duyệt, thẩm định, đề nghị khen thưởng trái pháp luật",
}


class Trend(StrEnum):
    MAINTAINED = "maintained"  # duy trì
    GROWING = "growing"  # phát triển
    DECLINING = "declining"  # suy giảm


TREND_NAMES_VI: dict[Trend, str] = {Trend.MAINTAINED: "Duy trì", Trend.GROWING: "Phát triển", Trend.DECLINING: "Suy giảm"}
