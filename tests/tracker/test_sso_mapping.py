"""The group-mapping rule (tracker.sso.membership_for), for every combination of groups."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.factories import OrganisationFactory
from tests.oidc.fixtures import map_test_groups
from tracker.models import GroupMapping, User
from tracker.sso import Membership, SignInRefused, asserts_multi_factor, groups_from, membership_for

pytestmark = pytest.mark.django_db

GROUPS = [
    "tracker-surrey-staff",
    "tracker-surrey-managers",
    "tracker-hampshire-staff",
    "tracker-hampshire-managers",
    "tracker-inspectors",
    "finance",
    "all-staff",
]


@pytest.fixture
def mapped(db):
    surrey = OrganisationFactory(slug="surrey")
    hampshire = OrganisationFactory(slug="hampshire")
    map_test_groups(surrey=surrey, hampshire=hampshire)
    return {m.value: m for m in GroupMapping.objects.select_related("organisation")}


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=st.lists(st.sampled_from(GROUPS), max_size=7))
def test_groups_give_one_organisation_and_its_highest_role_or_nothing_or_a_refusal(mapped, groups):
    matches = [mapped[group] for group in groups if group in mapped]
    organisations = {match.organisation_id for match in matches}
    if not matches:
        assert membership_for(groups) is None
    elif len(organisations) > 1:
        with pytest.raises(SignInRefused) as refusal:
            membership_for(groups)
        assert refusal.value.reason == "conflicting-groups"
    else:
        roles = {match.role for match in matches}
        expected = User.Role.MANAGER if User.Role.MANAGER in roles else roles.pop()
        assert membership_for(groups) == Membership(organisation=matches[0].organisation, role=expected)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"groups": ["a", "b"]}, ["a", "b"]),
        ({"groups": "a"}, ["a"]),
        ({"groups": []}, []),
    ],
)
def test_the_groups_claim_may_be_a_list_or_one_value(claims, expected):
    assert groups_from(claims) == expected


@pytest.mark.parametrize("claims", [{}, {"groups": None}, {"groups": [1, 2]}, {"groups": {"a": 1}}])
def test_a_missing_or_malformed_groups_claim_is_refused(claims):
    with pytest.raises(SignInRefused) as refusal:
        groups_from(claims)
    assert refusal.value.reason == "missing-groups"


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"amr": ["pwd", "mfa"]}, True),
        ({"amr": ["pwd"]}, False),
        ({"amr": "mfa"}, True),
        ({}, False),
        ({"acr": "urn:example:mfa"}, True),
        ({"acr": "urn:example:password"}, False),
    ],
)
def test_multi_factor_is_read_from_amr_and_the_configured_acr_values(claims, expected, settings):
    settings.OIDC_MFA_ACR_VALUES = ["urn:example:mfa"]
    assert asserts_multi_factor(claims) is expected
