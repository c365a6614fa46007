from rest_framework import serializers

from webapp.cohorts.models import Cohort


class CohortSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    study_count = serializers.IntegerField(read_only=True, default=0)
    member_count = serializers.IntegerField(read_only=True, default=0)
    label_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Cohort
        fields = [
            "id",
            "name",
            "purpose",
            "description",
            "deidentify",
            "created_by",
            "created_at",
            "study_count",
            "member_count",
            "label_count",
        ]
        read_only_fields = ["id", "created_by", "created_at", "study_count", "member_count", "label_count"]
        extra_kwargs = {
            "description": {"required": False},
            "deidentify": {
                "required": False,
                "help_text": "De-identify every uploaded file (DICOM PS3.15 Annex E basic profile); "
                "set when the cohort is created, never changed.",
            },
        }


class MemberRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class MemberSerializer(serializers.Serializer):
    cohort = serializers.IntegerField(source="cohort_id")
    username = serializers.CharField(source="user.username")
    added_at = serializers.DateTimeField()


class UploadRequestSerializer(serializers.Serializer):
    file = serializers.ListField(
        child=serializers.FileField(), help_text="one or more DICOM files or zip archives (repeat the field)"
    )


class LabelsRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="labels CSV in the detector's cohort format")


class LabelsResultSerializer(serializers.Serializer):
    cohort = serializers.IntegerField()
    rows = serializers.IntegerField()
    normals = serializers.IntegerField()
    abnormals = serializers.IntegerField()
    studies_labelled = serializers.IntegerField()
    studies_present = serializers.IntegerField()
    not_uploaded_yet = serializers.ListField(child=serializers.CharField())
    unlabelled_studies = serializers.IntegerField()
