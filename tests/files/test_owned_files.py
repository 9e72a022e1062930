"""owned_files(): what other packages (wishes) use to attach a user's uploads by id."""

import pytest

from server.errors import AppError
from server.files.services import file_url, owned_files
from tests.files.images import image_bytes


@pytest.fixture
def uploaded(upload):
    """Upload an image as ``who``; returns its id."""

    def make(who):
        response = upload(who, image_bytes())
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    return make


def test_the_users_own_files_come_back_in_the_order_asked(app, alice, uploaded):
    first, second, third = uploaded(alice), uploaded(alice), uploaded(alice)

    with app.app_context():
        files = owned_files(alice["user"]["id"], [third, first, second])

        assert [f.id for f in files] == [third, first, second]
        assert all(file_url(f) == f"/files/{f.key}" for f in files)


def test_no_ids_is_no_files(app, alice):
    with app.app_context():
        assert owned_files(alice["user"]["id"], []) == []


def test_someone_elses_file_is_refused_as_not_found(app, alice, login_user, uploaded):
    mine = uploaded(alice)
    bobs = uploaded(login_user("bob"))

    with app.app_context(), pytest.raises(AppError) as refused:
        owned_files(alice["user"]["id"], [mine, bobs])

    assert (refused.value.code, refused.value.status_code) == ("FILE_NOT_FOUND", 422)
    assert refused.value.details == {"ids": [bobs]}


def test_unknown_ids_are_refused_and_listed(app, alice, uploaded):
    mine = uploaded(alice)

    with app.app_context(), pytest.raises(AppError) as refused:
        owned_files(alice["user"]["id"], [999_999, mine, 888_888])

    assert refused.value.code == "FILE_NOT_FOUND"
    assert refused.value.details == {"ids": [999_999, 888_888]}


def test_a_staff_file_is_not_a_users_file(app, alice, make_staff, login_staff, uploaded):
    staff_file = uploaded(login_staff(make_staff()))

    with app.app_context(), pytest.raises(AppError) as refused:
        owned_files(alice["user"]["id"], [staff_file])

    assert refused.value.details == {"ids": [staff_file]}


def test_the_same_id_twice_is_refused_as_a_duplicate(app, alice, uploaded):
    mine = uploaded(alice)

    with app.app_context(), pytest.raises(AppError) as refused:
        owned_files(alice["user"]["id"], [mine, mine])

    assert (refused.value.code, refused.value.status_code) == ("FILE_DUPLICATE", 422)
    assert refused.value.details == {"ids": [mine]}
