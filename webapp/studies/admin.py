import hashlib

from django.contrib import admin
from django.http import HttpRequest

from webapp.accounts.admin_audit import AuditedModelAdmin, ReadOnlyAuditedAdmin
from webapp.studies.models import Instance, Patient, Pseudonym, Series, Study


@admin.register(Patient)
class PatientAdmin(AuditedModelAdmin):
    list_display = ("patient_id", "issuer_of_patient_id", "patient_name", "birth_date", "sex")
    search_fields = ("patient_id", "patient_name")


@admin.register(Study)
class StudyAdmin(AuditedModelAdmin):
    list_display = ("study_instance_uid", "patient", "study_date", "study_description", "created_at")
    search_fields = ("study_instance_uid", "patient__patient_id", "accession_number")
    list_select_related = ("patient",)
    raw_id_fields = ("patient",)


# Series and instances are what the stored files say (ingest writes them): shown, not edited;
# an instance's file path above all (it decides which file the site serves).
@admin.register(Series)
class SeriesAdmin(ReadOnlyAuditedAdmin):
    list_display = ("series_instance_uid", "study", "modality", "series_number", "series_description")
    search_fields = ("series_instance_uid", "study__study_instance_uid")
    raw_id_fields = ("study",)


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAuditedAdmin):
    list_display = ("sop_instance_uid", "series", "instance_number", "rows", "columns", "file_size")
    search_fields = ("sop_instance_uid",)
    raw_id_fields = ("series",)


# The pseudonym map of de-identified cohorts: admins only (the role's permission), read-only,
# each list and view audited like every admin page (by pseudonym, never by original).
@admin.register(Pseudonym)
class PseudonymAdmin(ReadOnlyAuditedAdmin):
    list_display = ("scope", "patient_id", "original_patient_id", "study_instance_uid", "created_at")
    list_filter = ("scope",)
    search_fields = ("patient_id", "original_patient_id", "study_instance_uid", "original_study_instance_uid")

    def audited_query(self, request: HttpRequest) -> str:
        """A search here may be by an original PatientID: the audit row keeps its SHA-256, so
        the search is on record (and checkable against a suspected value) without the ID."""
        query = request.GET.copy()
        if query.get("q"):
            query["q"] = "sha256:" + hashlib.sha256(query["q"].encode()).hexdigest()
        return query.urlencode()
