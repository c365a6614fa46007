from rest_framework import serializers

from webapp.studies.models import Series, Study


class StudySerializer(serializers.ModelSerializer):
    patient_id = serializers.CharField(source="patient.patient_id", read_only=True)
    patient_name = serializers.CharField(source="patient.patient_name", read_only=True)
    series_count = serializers.IntegerField(read_only=True)
    instance_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Study
        fields = [
            "id",
            "study_instance_uid",
            "patient_id",
            "patient_name",
            "study_date",
            "study_description",
            "accession_number",
            "series_count",
            "instance_count",
            "created_at",
        ]
        read_only_fields = fields


class SeriesSerializer(serializers.ModelSerializer):
    instance_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Series
        fields = [
            "id",
            "series_instance_uid",
            "modality",
            "series_number",
            "series_description",
            "body_part_examined",
            "instance_count",
        ]
        read_only_fields = fields


class StudyDetailSerializer(StudySerializer):
    patient_birth_date = serializers.DateField(source="patient.birth_date", read_only=True)
    patient_sex = serializers.CharField(source="patient.sex", read_only=True)
    series = SeriesSerializer(source="series_list", many=True, read_only=True)
    cohort_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta(StudySerializer.Meta):
        fields = StudySerializer.Meta.fields + ["patient_birth_date", "patient_sex", "series", "cohort_ids"]
        read_only_fields = fields


class FileVerdictSerializer(serializers.Serializer):
    name = serializers.CharField()
    verdict = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    reason = serializers.CharField(allow_blank=True)
    sop_instance_uid = serializers.CharField(allow_blank=True)
    study_instance_uid = serializers.CharField(allow_blank=True)
    series_instance_uid = serializers.CharField(allow_blank=True)


class IngestResultSerializer(serializers.Serializer):
    cohort = serializers.IntegerField()
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    study_ids = serializers.ListField(child=serializers.IntegerField())
    files = FileVerdictSerializer(many=True)
