import django_filters

from webapp.studies.models import Study


class StudyFilter(django_filters.FilterSet):
    # ``cohort`` is handled by the view: an inaccessible cohort must answer 404, not "invalid choice".
    patient_id = django_filters.CharFilter(field_name="patient__patient_id")
    study_instance_uid = django_filters.CharFilter()
    study_date_from = django_filters.DateFilter(field_name="study_date", lookup_expr="gte")
    study_date_to = django_filters.DateFilter(field_name="study_date", lookup_expr="lte")

    class Meta:
        model = Study
        fields = ["patient_id", "study_instance_uid", "study_date_from", "study_date_to"]
