"""One factory per model, each valid with no arguments."""

from __future__ import annotations

import datetime as dt
import os

import factory
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from factory.django import DjangoModelFactory

from inspections.models import Finding, FindingLink, Grading, Inspection, Organisation, Region, Theme
from tracker.models import ActionPlan, Dependency, Evidence, Milestone, Update, User
from tracker.storage import files_under

PASSWORD = "correct-horse-battery-staple"


def sign_in(client, user: User, *, second_factor: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Sign `client` in as `user` as the person would: with the password and, when they have an
    authenticator, a code from it (`second_factor=False`: the password only)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() if second_factor else None
    if device is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()


PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def random_filler(size: int) -> bytes:
    """`size` random bytes to pad a large PDF with, holding none of what the upload check refuses in a PDF.

    Random bytes hold a ZIP archive's end marker ("PK" 5 6) about once in 200 files of 20 MB, which would
    make the file a polyglot; every "P" is turned into "Q" and every "<" into "(" so that never happens.
    """
    return os.urandom(size).replace(b"P", b"Q").replace(b"<", b"(")


def pdf_upload(name: str = "evidence.pdf", content: bytes = PDF_BYTES) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def stored_files(folder: str = "") -> list[str]:
    """The names of every file in the default storage (a local folder or Azurite), sorted."""
    return files_under(folder)


def stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


class RegionFactory(DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Region {n:05d}")
    slug = factory.Sequence(lambda n: f"region-{n:05d}")


class OrganisationFactory(DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Force {n:05d} Constabulary")
    short_name = factory.Sequence(lambda n: f"Force {n:05d}")
    slug = factory.Sequence(lambda n: f"force-{n:05d}")
    kind = Organisation.Kind.FORCE
    region = factory.SubFactory(RegionFactory)


class InspectionFactory(DjangoModelFactory):
    class Meta:
        model = Inspection

    title = factory.Sequence(lambda n: f"Inspection {n:05d}")
    slug = factory.Sequence(lambda n: f"inspection-{n:05d}")
    programme = Inspection.Programme.SOC
    published_on = dt.date(2024, 8, 30)


class ThemeFactory(DjangoModelFactory):
    class Meta:
        model = Theme
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Theme {n:05d}")
    slug = factory.Sequence(lambda n: f"theme-{n:05d}")


class GradingFactory(DjangoModelFactory):
    class Meta:
        model = Grading

    inspection = factory.SubFactory(InspectionFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    area = "Overall"
    grade = Grading.Grade.GOOD


class FindingFactory(DjangoModelFactory):
    class Meta:
        model = Finding
        skip_postgeneration_save = True

    inspection = factory.SubFactory(InspectionFactory)
    kind = Finding.Kind.RECOMMENDATION
    reference = factory.Sequence(lambda n: f"R{n:05d}")
    text = factory.Sequence(lambda n: f"The force should make sure it has enough intelligence analysts ({n}).")

    @factory.post_generation
    def supersedes(self, create: bool, extracted: Finding | None, **kwargs: object) -> None:
        """`FindingFactory(supersedes=earlier)`: a link of kind "supersedes" to `earlier`."""
        if create and extracted is not None:
            FindingLink.objects.create(finding=self, earlier=extracted, kind=FindingLink.Kind.SUPERSEDES)


class FindingLinkFactory(DjangoModelFactory):
    class Meta:
        model = FindingLink

    finding = factory.SubFactory(FindingFactory)
    earlier = factory.SubFactory(FindingFactory, inspection__published_on=dt.date(2019, 5, 1))
    kind = FindingLink.Kind.REPEATS


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n:05d}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    first_name = "Sam"
    last_name = factory.Sequence(lambda n: f"Officer{n:05d}")
    organisation = factory.SubFactory(OrganisationFactory)
    role = User.Role.STAFF
    password = factory.django.Password(PASSWORD)


class StaffFactory(UserFactory):
    role = User.Role.STAFF


class ManagerFactory(UserFactory):
    role = User.Role.MANAGER


class InspectorFactory(UserFactory):
    role = User.Role.INSPECTOR
    organisation = None


class AdminFactory(UserFactory):
    role = User.Role.INSPECTOR
    organisation = None
    is_staff = True
    is_superuser = True


class ActionPlanFactory(DjangoModelFactory):
    class Meta:
        model = ActionPlan

    finding = factory.SubFactory(FindingFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    status = ActionPlan.Status.IN_PROGRESS
    target_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=90))
    original_target_date = factory.SelfAttribute("target_date")
    percent_complete = 20


class UpdateFactory(DjangoModelFactory):
    class Meta:
        model = Update

    plan = factory.SubFactory(ActionPlanFactory)
    author = factory.SubFactory(StaffFactory, organisation=factory.SelfAttribute("..plan.organisation"))
    kind = Update.Kind.PROGRESS
    note = "Analyst recruitment campaign launched."


class EvidenceFactory(DjangoModelFactory):
    class Meta:
        model = Evidence

    update = factory.SubFactory(UpdateFactory)
    file = factory.django.FileField(filename="evidence.pdf", data=PDF_BYTES)
    original_name = "evidence.pdf"
    size = len(PDF_BYTES)
    sha256 = factory.LazyFunction(lambda: __import__("hashlib").sha256(PDF_BYTES).hexdigest())
    content_type = "application/pdf"
    uploaded_by = factory.SelfAttribute("update.author")


class MilestoneFactory(DjangoModelFactory):
    """A milestone written straight to the table (the workflow keeps the plan's figures: tests that need
    them in step add milestones through `tracker.workflow.add_milestone`)."""

    class Meta:
        model = Milestone

    plan = factory.SubFactory(ActionPlanFactory)
    title = factory.Sequence(lambda n: f"Milestone {n:05d}")
    position = factory.Sequence(lambda n: n)
    target_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=30))


class DependencyFactory(DjangoModelFactory):
    """What a blocked plan waits on, written straight to the table (`tracker.workflow.mark_blocked` records
    it with the plan's change of status: tests of that use the workflow)."""

    class Meta:
        model = Dependency

    plan = factory.SubFactory(ActionPlanFactory, status=ActionPlan.Status.BLOCKED)
    kind = Dependency.Kind.PARTNER_AGENCY
    name = "the county council"
    since = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=10))
    recorded_by = factory.SubFactory(StaffFactory, organisation=factory.SelfAttribute("..plan.organisation"))
