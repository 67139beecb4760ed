"""A small, realistic directory and one payload of every routed event type.

Used by the tests and by `python -m services.notifications.preview` (to read every
template as a person would). Names and units are illustrative.
"""

import datetime as dt

from services.notifications.domain import DirectoryView, NominationView, StaffView, UnitView
from shared.events import (
    CommentRecorded,
    CriteriaSetRef,
    CriterionResult,
    DecisionCorrected,
    DiscussionOpened,
    EvaluationCancelled,
    EvaluationCompleted,
    EvaluationOverdue,
    EvaluationReminder,
    EvaluatorReplaced,
    ExemplarNotRecognized,
    ExemplarRecognized,
    ExemplarReplicated,
    ExemplarRevoked,
    InputRejected,
    NominationAccepted,
    NominationRejected,
    NominationWithdrawn,
    Nominee,
    PanelAssigned,
    PanelIncomplete,
    Payload,
    QuotaShortfall,
    Reason,
    ReviewRecorded,
    ScoreRecorded,
    SupportNeeded,
    WithdrawalRejected,
)
from shared.vocabulary import Field, NomineeKind, Outcome, RecognitionLevel, RevocationGround, Role, Trend

TODAY = dt.date(2025, 6, 2)
NOMINATION = "NOM-2024-0007"
EXEMPLAR = "EX-2024-0007"
TITLE = "Mô hình số hóa bản đồ địa chính dùng chung"
UNIT = "U-CDC"

_E = Role.EMULATION_OFFICER


def sample_directory() -> DirectoryView:
    view = DirectoryView()
    for unit in (
        UnitView("U-CDC", "Cục Đo đạc, Bản đồ và Thông tin địa lý Việt Nam", dt.date(2022, 11, 1),
                 email="vanthu.cdc@example.vn", webhook_url="https://cdc.example.vn/hooks/thi-dua"),
        UnitView("U-TNN", "Cục Quản lý tài nguyên nước", dt.date(2017, 1, 1)),
        UnitView("U-KTTV", "Cục Khí tượng Thủy văn", dt.date(2017, 1, 1)),
        UnitView("U-VP", "Văn phòng Bộ", dt.date(2017, 1, 1)),
        # Merged into the new ministry on 2025-03-01: history only, no more publicity.
        UnitView("U-TCMT", "Tổng cục Môi trường", dt.date(2008, 1, 1), valid_to=dt.date(2025, 2, 28)),
    ):
        view.units[unit.unit_id] = unit
    for staff in (
        StaffView("S-LEAD-CDC", "U-CDC", "Trần Văn Minh", "minh.tv@example.vn", frozenset({Role.UNIT_LEADER})),
        StaffView("S-TD-CDC", "U-CDC", "Nguyễn Thị Hương", "huong.nt@example.vn", frozenset({_E})),
        StaffView("S-SUB-CDC", "U-CDC", "Lê Quang Đức", "duc.lq@example.vn"),
        StaffView("S-TD-TNN", "U-TNN", "Phạm Thu Trang", "trang.pt@example.vn", frozenset({_E}),
                  webhook_url="https://tnn.example.vn/hooks/notify"),
        StaffView("S-EV-1", "U-TNN", "Đặng Ngọc Ánh", "anh.dn@example.vn", frozenset({Role.EVALUATOR})),
        StaffView("S-EV-2", "U-KTTV", "Hoàng Văn Bình", "binh.hv@example.vn", frozenset({Role.EVALUATOR})),
        StaffView("S-EV-3", "U-KTTV", "Vũ Thị Lan", "lan.vt@example.vn", frozenset({Role.EVALUATOR})),
        StaffView("S-EV-4", "U-VP", "Bùi Đức Thắng", "thang.bd@example.vn", frozenset({Role.EVALUATOR})),
        StaffView("S-VP", "U-VP", "Đỗ Thị Mai", "mai.dt@example.vn", frozenset({Role.MINISTRY_OFFICE})),
        StaffView("S-TD-TCMT", "U-TCMT", "Ngô Văn Hải", "hai.nv@example.vn", frozenset({_E})),
        StaffView("S-TD-KTTV-OLD", "U-KTTV", "Lý Thị Thu", "thu.lt@example.vn", frozenset({_E}), removed=True),
        StaffView("S-TD-KTTV", "U-KTTV", "Trịnh Minh Khoa", "khoa.tm@example.vn", frozenset({_E})),
    ):
        view.staff[staff.staff_id] = staff
    # Its recognition reached the unit and every open unit's emulation officers.
    told = frozenset({"S-LEAD-CDC", "S-TD-CDC", "unit:U-CDC", "S-TD-TNN", "S-TD-KTTV"})
    view.nominations[NOMINATION] = NominationView(NOMINATION, UNIT, TITLE, frozenset({"S-EV-1", "S-EV-2", "S-EV-3"}),
                                                  told)
    return view


def sample_payloads() -> dict[str, Payload]:
    """One payload per routed event type, keyed by type."""
    criteria = CriteriaSetRef(set_id="surveying_mapping.collective", version=1)
    reasons = [Reason(code="QUOTA_EXCEEDED", message="Đơn vị đã đủ 2 hồ sơ được tiếp nhận trong năm 2024."),
               Reason(code="SUBMITTER_NOT_IN_UNIT", message="Người gửi không thuộc đơn vị đề xuất.")]
    payloads: list[Payload] = [
        NominationAccepted(
            nomination_id=NOMINATION, unit_id=UNIT, year=2024,
            nominee=Nominee(kind=NomineeKind.COLLECTIVE, name="Phòng Dữ liệu nền", members=18),
            field=Field.SURVEYING_MAPPING, movement="Phong trào thi đua chuyển đổi số ngành tài nguyên và môi trường",
            title=TITLE, summary="Số hóa và dùng chung bản đồ địa chính cho 4 đơn vị.",
            submitter_id="S-SUB-CDC", accepted_in_year=1, yearly_maximum=2),
        NominationRejected(nomination_id="NOM-2024-0009", unit_id=UNIT, year=2024, submitter_id="S-SUB-CDC",
                           title="Mô hình quan trắc tự động", reasons=reasons),
        NominationWithdrawn(nomination_id=NOMINATION, unit_id=UNIT, requested_by="S-SUB-CDC",
                            reason="Đơn vị bổ sung hồ sơ, đề xuất lại năm sau.", year=2024, title=TITLE),
        WithdrawalRejected(nomination_id=NOMINATION, unit_id=UNIT, requested_by="S-SUB-CDC",
                           reasons=[Reason(code="ALREADY_DECIDED", message="Hồ sơ đã có quyết định của Hội đồng.")]),
        QuotaShortfall(unit_id=UNIT, year=2025, accepted=0, yearly_minimum=1, checked_on=dt.date(2025, 10, 1)),
        PanelAssigned(nomination_id=NOMINATION, unit_id=UNIT, year=2024, field=Field.SURVEYING_MAPPING,
                      nominee_kind=NomineeKind.COLLECTIVE, title=TITLE, criteria=criteria,
                      evaluators=["S-EV-1", "S-EV-2", "S-EV-3"], deadline=dt.date(2025, 6, 30)),
        PanelIncomplete(nomination_id=NOMINATION, unit_id=UNIT, title=TITLE, required=3, assigned=["S-EV-1"]),
        EvaluatorReplaced(nomination_id=NOMINATION, title=TITLE, recused_id="S-EV-1", replacement_id="S-EV-4",
                          reason="Từng công tác tại đơn vị đề xuất", deadline=dt.date(2025, 6, 30)),
        ScoreRecorded(nomination_id=NOMINATION, evaluator_id="S-EV-2", scores={"hieu_qua": 25, "lan_toa": 15},
                      total=80, amended=True),
        DiscussionOpened(nomination_id=NOMINATION, unit_id=UNIT, title=TITLE, evaluators=["S-EV-1", "S-EV-2", "S-EV-3"],
                         evaluator_totals={"S-EV-1": 86, "S-EV-2": 58.5, "S-EV-3": 74}, spread=27.5, threshold=25,
                         closes_on=dt.date(2025, 7, 5)),
        CommentRecorded(nomination_id=NOMINATION, evaluator_id="S-EV-2",
                        comment="Tôi chấm thấp tiêu chí Sức lan tỏa vì chưa có đơn vị nào áp dụng.", number=1),
        EvaluationReminder(nomination_id=NOMINATION, evaluator_id="S-EV-2", title=TITLE,
                           deadline=dt.date(2025, 6, 30), days_left=7),
        EvaluationOverdue(nomination_id=NOMINATION, evaluator_id="S-EV-3", title=TITLE,
                          deadline=dt.date(2025, 6, 30), days_overdue=2),
        EvaluationCompleted(
            nomination_id=NOMINATION, unit_id=UNIT, year=2024, field=Field.SURVEYING_MAPPING, title=TITLE,
            criteria=criteria, total=76.5,
            breakdown=[CriterionResult(criterion_id="hieu_qua", name="Hiệu quả", weight=30, maximum=30,
                                       average=25.5, weighted=25.5),
                       CriterionResult(criterion_id="lan_toa", name="Sức lan tỏa", weight=20, maximum=20,
                                       average=15, weighted=15)],
            gates={"ho_so_day_du": True, "khong_ky_luat": True}, outcome=Outcome.RECOGNIZE,
            evaluator_totals={"S-EV-1": 80, "S-EV-2": 75, "S-EV-3": 74.5}, divergent=False, spread=5.5),
        EvaluationCancelled(nomination_id=NOMINATION, reason="Đơn vị đã rút hồ sơ"),
        InputRejected(input_type="evaluation.score_submitted", input_id="b7d1e6c2-5a0e-4a8e-9f00-1c2d3e4f5a6b",
                      subject=NOMINATION, sender_id="S-EV-2",
                      reasons=[Reason(code="SCORE_OUT_OF_RANGE", message="Điểm tiêu chí Hiệu quả vượt quá 30.")]),
        ExemplarRecognized(exemplar_id=EXEMPLAR, nomination_id=NOMINATION, unit_id=UNIT, year=2024,
                           field=Field.SURVEYING_MAPPING, nominee_name="Phòng Dữ liệu nền", title=TITLE,
                           level=RecognitionLevel.MINISTRY, decision_ref="123/QĐ-BNNMT", total=76.5),
        ExemplarNotRecognized(exemplar_id=EXEMPLAR, nomination_id=NOMINATION, unit_id=UNIT, year=2024, title=TITLE,
                              decision_ref="124/QĐ-BNNMT", fostering=True),
        ReviewRecorded(exemplar_id=EXEMPLAR, unit_id=UNIT, title=TITLE, period="2025-H1", influence=4,
                       trend=Trend.GROWING, adopting_units=5, study_visits=2, needs_support=False),
        SupportNeeded(exemplar_id=EXEMPLAR, unit_id=UNIT, title=TITLE, period="2025-H1", trend=Trend.DECLINING,
                      support_requested="Đào tạo cán bộ vận hành hệ thống; kinh phí nâng cấp máy chủ.",
                      difficulties="Thiếu nhân lực kỹ thuật.\nMáy chủ xuống cấp."),
        ExemplarReplicated(exemplar_id=EXEMPLAR, unit_id=UNIT, title=TITLE, adopting_unit_id="U-TNN",
                           distinct_units=5),
        ExemplarRevoked(exemplar_id=EXEMPLAR, nomination_id=NOMINATION, unit_id=UNIT, year=2024,
                        field=Field.SURVEYING_MAPPING, nominee_name="Phòng Dữ liệu nền", title=TITLE,
                        level=RecognitionLevel.MINISTRY, decision_ref="123/QĐ-BNNMT", revocation_ref="45/QĐ-BNNMT",
                        revoked_on=dt.date(2025, 9, 15), ground=RevocationGround.FALSE_DOCUMENTS,
                        reason="Biên bản bình xét trong hồ sơ đề nghị được lập sau ngày họp.\nChữ ký không đúng.",
                        distinct_units=3),
        DecisionCorrected(exemplar_id=EXEMPLAR, nomination_id=NOMINATION, unit_id=UNIT, year=2024, title=TITLE,
                          recognized=True, level=RecognitionLevel.UNIT, previous_level=RecognitionLevel.MINISTRY,
                          decision_ref="123/QĐ-BNNMT", previous_decision_ref="123/QĐ-BNNMT",
                          corrected_on=dt.date(2025, 1, 10), reason="Nhầm cấp công nhận khi nhập quyết định.",
                          number=1),
    ]
    return {payload.event_type: payload for payload in payloads}
