from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from webapp.detection.points import points_of
from webapp.worklists.models import ItemStatus, OperatingPoint, Read, Verdict, Worklist, WorklistItem
from webapp.worklists.selectors import ai_hidden


def viewer_url(study_id: int, item_id: int | None = None) -> str:
    url = reverse("viewer:study", args=[study_id])
    return f"{url}?item={item_id}" if item_id is not None else url


class WorklistSerializer(serializers.ModelSerializer):
    cohort_name = serializers.CharField(source="cohort.name", read_only=True)
    model_version_name = serializers.CharField(source="model_version.name", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    readers = serializers.SerializerMethodField()
    item_count = serializers.IntegerField(read_only=True, default=0)
    reads_done = serializers.IntegerField(read_only=True, default=0, help_text="current reads by all readers")
    mine = serializers.SerializerMethodField(help_text="your own progress, when you are one of its readers")

    class Meta:
        model = Worklist
        fields = [
            "id",
            "name",
            "cohort",
            "cohort_name",
            "model_version",
            "model_version_name",
            "created_by",
            "created_at",
            "blinded",
            "item_count",
            "readers",
            "reads_done",
            "mine",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_readers(self, worklist: Worklist) -> list[str]:
        return [a.reader.get_username() for a in worklist.assignments.all()]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_mine(self, worklist: Worklist) -> dict[str, int] | None:
        request = self.context.get("request")
        if request is None or not any(a.reader_id == request.user.pk for a in worklist.assignments.all()):
            return None
        read = getattr(worklist, "my_read", 0)
        in_progress = getattr(worklist, "my_in_progress", 0)
        total = getattr(worklist, "item_count", 0)
        return {
            "read": read,
            "in_progress": in_progress,
            "unread": max(total - read - in_progress, 0),
        }


class BuildWorklistSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    cohort = serializers.IntegerField(help_text="the cohort whose studies it lists")
    study_ids = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        allow_null=True,
        default=None,
        help_text="a subset of the cohort's studies; default: every study with a finished result",
    )
    model_version = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="default: the active model version"
    )
    readers = serializers.ListField(
        child=serializers.CharField(max_length=150),
        required=False,
        default=list,
        help_text="usernames of radiologists of the cohort to assign it to",
    )
    blinded = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="hide the AI's call and score from each reader until they submit their read, and "
        "shuffle the items; default: on for screening cohorts",
    )


class AssignSerializer(serializers.Serializer):
    readers = serializers.ListField(child=serializers.CharField(max_length=150), allow_empty=False)


class ReadSummarySerializer(serializers.ModelSerializer):
    reader = serializers.CharField(source="reader.username", read_only=True)
    model_version_name = serializers.CharField(source="model_version.name", read_only=True)

    class Meta:
        model = Read
        fields = [
            "id",
            "item",
            "reader",
            "version",
            "is_current",
            "supersedes",
            "amend_reason",
            "verdict",
            "lesion_marks",
            "comment",
            "reading_seconds",
            "server_seconds",
            "result",
            "model_version",
            "model_version_name",
            "fused_score",
            "operating_point",
            "threshold",
            "calibration",
            "ai_call",
            "blinded",
            "created_at",
        ]
        read_only_fields = fields


class WorklistItemSerializer(serializers.ModelSerializer):
    study_instance_uid = serializers.CharField(source="study.study_instance_uid", read_only=True)
    patient_id = serializers.CharField(source="study.patient.patient_id", read_only=True)
    status = serializers.SerializerMethodField(help_text="your status: unread, in_progress or read")
    reads_done = serializers.IntegerField(read_only=True, default=0, help_text="current reads by all readers")
    calls = serializers.SerializerMethodField(help_text="positive/negative at each named operating point")
    viewer_url = serializers.SerializerMethodField()
    ai_hidden = serializers.SerializerMethodField(
        help_text="true while a blinded worklist hides the AI from you (score, calls, interpretation null)"
    )

    class Meta:
        model = WorklistItem
        fields = [
            "id",
            "worklist",
            "study",
            "study_instance_uid",
            "patient_id",
            "result",
            "fused_score",
            "status",
            "reads_done",
            "calls",
            "viewer_url",
            "ai_hidden",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_ai_hidden(self, item: WorklistItem) -> bool:
        if "ai_hidden" in self.context:  # one item, decided by the view
            return bool(self.context["ai_hidden"])
        return ai_hidden(self.context.get("blinded", False), getattr(item, "my_status", ItemStatus.UNREAD))

    def to_representation(self, item: WorklistItem) -> dict[str, Any]:
        data = super().to_representation(item)
        if data["ai_hidden"]:  # a blinded read: nothing of the AI until the reader has read it
            data["fused_score"] = None
            data["calls"] = {}
            if "interpretation" in data:
                data["interpretation"] = None
        return data

    @extend_schema_field(serializers.ChoiceField(choices=ItemStatus.choices))
    def get_status(self, item: WorklistItem) -> str:
        return getattr(item, "my_status", ItemStatus.UNREAD)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_calls(self, item: WorklistItem) -> dict[str, str]:
        points = points_of(self.context.get("operating_points"))
        return {name: point.call(item.fused_score) for name, point in points.items()}

    @extend_schema_field(OpenApiTypes.URI)
    def get_viewer_url(self, item: WorklistItem) -> str:
        return viewer_url(item.study_id, item.pk)


class WorklistItemDetailSerializer(WorklistItemSerializer):
    worklist_name = serializers.CharField(source="worklist.name", read_only=True)
    cohort = serializers.IntegerField(source="worklist.cohort_id", read_only=True)
    model_version = serializers.IntegerField(source="result.model_version_id", read_only=True)
    model_version_name = serializers.CharField(source="result.model_version.name", read_only=True)
    previous = serializers.SerializerMethodField(help_text="the item before this one in triage order")
    next = serializers.SerializerMethodField(help_text="the item after this one in triage order")
    next_unread = serializers.SerializerMethodField(help_text="your first item in triage order not read yet")
    position = serializers.SerializerMethodField(help_text="1-based place in triage order")
    interpretation = serializers.SerializerMethodField()
    my_read = serializers.SerializerMethodField(help_text="your current read of this item, if any")

    class Meta(WorklistItemSerializer.Meta):
        fields = [
            *WorklistItemSerializer.Meta.fields,
            "worklist_name",
            "cohort",
            "model_version",
            "model_version_name",
            "position",
            "previous",
            "next",
            "next_unread",
            "interpretation",
            "my_read",
        ]
        read_only_fields = fields

    def _ctx(self, key: str) -> Any:
        return self.context.get(key)

    @extend_schema_field(OpenApiTypes.INT)
    def get_previous(self, item: WorklistItem) -> int | None:
        return self._ctx("neighbours").previous

    @extend_schema_field(OpenApiTypes.INT)
    def get_next(self, item: WorklistItem) -> int | None:
        return self._ctx("neighbours").next

    @extend_schema_field(OpenApiTypes.INT)
    def get_next_unread(self, item: WorklistItem) -> int | None:
        return self._ctx("neighbours").next_unread

    @extend_schema_field(OpenApiTypes.INT)
    def get_position(self, item: WorklistItem) -> int:
        return self._ctx("position")

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_interpretation(self, item: WorklistItem) -> dict[str, Any]:
        return self._ctx("interpretation")

    @extend_schema_field(ReadSummarySerializer(allow_null=True))
    def get_my_read(self, item: WorklistItem) -> dict[str, Any] | None:
        read = self._ctx("my_read")
        return ReadSummarySerializer(read).data if read is not None else None


class LesionMarkSerializer(serializers.Serializer):
    center_lps_mm = serializers.ListField(
        child=serializers.FloatField(), min_length=3, max_length=3, help_text="[x, y, z] in patient LPS mm"
    )
    diameter_mm = serializers.FloatField(required=False, allow_null=True)
    comment = serializers.CharField(required=False, allow_blank=True)


class ReadRequestSerializer(serializers.Serializer):
    """Only the shape is checked here; the rules (ranges, the CT's extent) are the service's."""

    verdict = serializers.ChoiceField(choices=Verdict.choices)
    lesion_marks = LesionMarkSerializer(many=True, required=False, default=list)
    comment = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=True)
    reading_seconds = serializers.FloatField(help_text="reading time the client measured, in seconds")
    operating_point = serializers.ChoiceField(choices=OperatingPoint.choices)
    threshold = serializers.FloatField(
        required=False, allow_null=True, default=None, help_text="required for operating_point=custom"
    )
    result = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="the detection result the viewer showed; default: the item's",
    )
    amend_reason = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="to correct your earlier read of this item"
    )


class ProgressSerializer(serializers.Serializer):
    item = serializers.IntegerField(source="item_id")
    status = serializers.ChoiceField(choices=ItemStatus.choices)
    first_opened_at = serializers.DateTimeField()
    last_opened_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class ReviewRowSerializer(serializers.Serializer):
    model_version_id = serializers.IntegerField()
    model_version = serializers.CharField()
    cohort_id = serializers.IntegerField()
    cohort = serializers.CharField()
    calibration_id = serializers.IntegerField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    blinded = serializers.BooleanField(help_text="reads made without the AI in view (blinded worklists)")
    reads = serializers.IntegerField()
    compared = serializers.IntegerField()
    both_positive = serializers.IntegerField()
    ai_only = serializers.IntegerField(help_text="AI positive, reader normal")
    reader_only = serializers.IntegerField(help_text="AI negative, reader abnormal")
    both_negative = serializers.IntegerField()
    uncertain = serializers.IntegerField()
    uncalibrated = serializers.IntegerField()
    percent_agreement = serializers.FloatField(allow_null=True)
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa; null with one class only")


class DisagreementSerializer(serializers.Serializer):
    read_id = serializers.IntegerField()
    study_id = serializers.IntegerField()
    patient_id = serializers.CharField()
    study_instance_uid = serializers.CharField()
    worklist_id = serializers.IntegerField()
    item_id = serializers.IntegerField()
    reader = serializers.CharField()
    verdict = serializers.CharField()
    fused_score = serializers.FloatField()
    threshold = serializers.FloatField()
    ai_call = serializers.CharField()
    model_version = serializers.CharField()
    cohort = serializers.CharField()
    read_at = serializers.DateTimeField()
    blinded = serializers.BooleanField()
    viewer_url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_viewer_url(self, row: Any) -> str:
        return viewer_url(row.study_id)


class ReviewSerializer(serializers.Serializer):
    operating_point = serializers.CharField()
    rows = ReviewRowSerializer(many=True)
    disagreements = DisagreementSerializer(many=True)
