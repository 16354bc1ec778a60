# The account fixtures, until tests/conftest.py lists "fixtures.accounts" in pytest_plugins.
from fixtures.accounts import login, make_user, other_app  # noqa: F401
