"""Carry each finding's single "supersedes" field over to a typed link (kind "supersedes").

The old field recorded neither who made the link nor when: the link is dated with the later
inspection's publication day (or now) and attributed to nobody.
"""

import datetime as dt

from django.db import migrations
from django.utils import timezone


def forward(apps, schema_editor):
    Finding = apps.get_model("inspections", "Finding")
    FindingLink = apps.get_model("inspections", "FindingLink")
    links = []
    for finding in Finding.objects.filter(supersedes__isnull=False).select_related("inspection"):
        published = finding.inspection.published_on
        when = timezone.make_aware(dt.datetime.combine(published, dt.time(9))) if published else timezone.now()
        links.append(
            FindingLink(finding_id=finding.pk, earlier_id=finding.supersedes_id, kind="supersedes", created_at=when)
        )
    FindingLink.objects.bulk_create(links, batch_size=500)


def backward(apps, schema_editor):
    Finding = apps.get_model("inspections", "Finding")
    FindingLink = apps.get_model("inspections", "FindingLink")
    for link in FindingLink.objects.filter(kind="supersedes").order_by("created_at"):
        Finding.objects.filter(pk=link.finding_id).update(supersedes_id=link.earlier_id)


class Migration(migrations.Migration):
    dependencies = [("inspections", "0003_findinglink_dismissedsuggestion")]

    operations = [migrations.RunPython(forward, backward)]
