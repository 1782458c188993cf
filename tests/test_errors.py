"""Every typed refusal of the services has a kind (polyport/errors.py), which the protocols answer by."""

from __future__ import annotations

import pytest

from polyport.admin.errors import AdminError
from polyport.auth.login import AuthFailure
from polyport.delivery import DeliveryError
from polyport.directory import AlreadyExists, DirectoryError, UnknownObject
from polyport.errors import ErrorKind, ServiceError
from polyport.mailstore import MailstoreError
from tests.service_errors import KINDS, examples

FAMILIES: tuple[type[ServiceError], ...] = (MailstoreError, DirectoryError, DeliveryError, AuthFailure, AdminError)


def subclasses(cls: type[ServiceError]) -> set[type[ServiceError]]:
    found: set[type[ServiceError]] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | subclasses(sub)
    return found


def test_every_error_has_its_kind() -> None:
    for cls, kind in KINDS.items():
        assert isinstance(cls.kind, ErrorKind)
        assert cls.kind is kind, cls.__name__


def test_no_error_class_is_left_out() -> None:
    found: set[type[ServiceError]] = set()
    for family in FAMILIES:
        found |= {family} | subclasses(family)
    assert found == set(KINDS)


def test_the_families_share_one_base() -> None:
    for family in FAMILIES:
        assert issubclass(family, ServiceError)
    assert ServiceError.kind is ErrorKind.REFUSED  # what a subclass that says nothing more is


@pytest.mark.parametrize("error", examples(), ids=lambda e: type(e).__name__)
def test_instances_keep_their_constructors_and_kinds(error: ServiceError) -> None:
    assert error.kind is KINDS[type(error)]
    assert str(error)


def test_directory_errors_say_which_object_as_object_kind() -> None:
    error = UnknownObject("unknown forwarder fw@example.com", "forwarder")
    assert (error.kind, error.object_kind) == (ErrorKind.NOT_FOUND, "forwarder")
    taken = AlreadyExists("example.com already exists", "domain")
    assert (taken.kind, taken.object_kind) == (ErrorKind.EXISTS, "domain")
