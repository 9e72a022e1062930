"""Settings come only from the environment; production refuses what no real deployment may run with."""

from pathlib import Path

import pytest

from server.app import create_app
from server.config import DEFAULT_SECRET_KEY, MIN_SECRET_KEY_LENGTH, ConfigError, Settings

GOOD_SECRET = "s" * MIN_SECRET_KEY_LENGTH
PRODUCTION = {
    "LINLI_ENV": "production",
    "SECRET_KEY": GOOD_SECRET,
    "DATABASE_URL": "postgresql://linli:pw@db.internal:5432/linli",
    "WECHAT_APPID": "wx0123456789",
    "WECHAT_SECRET": "real-wechat-secret",
    "QR_LINK_BASE": "https://linli.gov-example.cn/c",
}


def production(**changes: str | None) -> dict[str, str]:
    """A complete production environment with some variables changed (None removes one)."""
    env = {**PRODUCTION, **changes}
    return {name: value for name, value in env.items() if value is not None}


def refusal(environ: dict[str, str]) -> str:
    """The message of the ConfigError that reading and validating ``environ`` raises."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ).validate()
    return str(caught.value)


# --- production is strict ------------------------------------------------------------------------


def test_a_complete_production_environment_is_accepted():
    settings = Settings.from_env(production())
    settings.validate()
    assert settings.LINLI_ENV == "production"
    assert settings.flask_config()["TESTING"] is False


def test_production_refuses_the_default_secret_key():
    assert "SECRET_KEY" in refusal(production(SECRET_KEY=DEFAULT_SECRET_KEY))


def test_production_refuses_a_missing_secret_key_which_means_the_default():
    assert "SECRET_KEY" in refusal(production(SECRET_KEY=None))
    assert "SECRET_KEY" in refusal(production(SECRET_KEY="   "))  # noqa: S106  (a blank key that must be refused)


def test_production_refuses_a_short_secret_key():
    message = refusal(production(SECRET_KEY="s" * (MIN_SECRET_KEY_LENGTH - 1)))
    assert "SECRET_KEY" in message
    assert str(MIN_SECRET_KEY_LENGTH) in message


def test_production_refuses_a_missing_database_url():
    assert "DATABASE_URL" in refusal(production(DATABASE_URL=None))


@pytest.mark.parametrize("missing", ["WECHAT_APPID", "WECHAT_SECRET"])
def test_production_refuses_missing_wechat_credentials(missing):
    assert missing in refusal(production(**{missing: None}))


def test_production_names_every_problem_at_once():
    message = refusal({"LINLI_ENV": "production"})
    assert "SECRET_KEY" in message
    assert "DATABASE_URL" in message
    assert "WECHAT_APPID" in message


def test_create_app_in_production_with_the_default_secret_refuses_to_start():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(
            {
                **PRODUCTION,
                "DATABASE_URL": "postgresql+psycopg://linli:pw@db.internal:5432/linli",
                "SECRET_KEY": DEFAULT_SECRET_KEY,
            }
        )


# --- malformed values are refused, naming the variable ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LINLI_ENV", "staging"),
        ("WECHAT_TIMEOUT_SECONDS", "abc"),
        ("ACCESS_TOKEN_TTL_SECONDS", "2h"),
        ("DATABASE_URL", "mysql://linli:pw@db.internal/linli"),
        ("WECHAT_API_BASE", "api.weixin.qq.com"),
    ],
)
def test_a_malformed_value_raises_config_error_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert name in str(caught.value)


def test_a_refused_database_url_does_not_echo_its_password():
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DATABASE_URL": "mysql://linli:hunter2-secret@db.internal/linli"})
    assert "hunter2-secret" not in str(caught.value)


def test_the_environment_name_is_case_insensitive():
    assert Settings.from_env({"LINLI_ENV": " Production "}).LINLI_ENV == "production"


# --- database URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_urls_are_pointed_at_psycopg_3(scheme):
    settings = Settings.from_env({"DATABASE_URL": f"{scheme}://linli:pw@db.internal:5432/linli"})
    expected = "postgresql+psycopg://linli:pw@db.internal:5432/linli"
    assert settings.DATABASE_URL == expected
    assert settings.flask_config()["SQLALCHEMY_DATABASE_URI"] == expected


def test_an_explicit_psycopg_url_is_kept():
    url = "postgresql+psycopg://linli:pw@db.internal:5432/linli"
    assert Settings.from_env({"DATABASE_URL": url}).DATABASE_URL == url


def test_without_database_url_the_database_is_a_sqlite_file_under_the_instance_dir(tmp_path):
    settings = Settings.from_env({"LINLI_INSTANCE_DIR": str(tmp_path)})
    assert settings.DATABASE_URL is None
    assert settings.INSTANCE_DIR == str(tmp_path)
    uri = settings.flask_config()["SQLALCHEMY_DATABASE_URI"]
    assert uri.startswith("sqlite:///")
    assert Path(uri.removeprefix("sqlite:///")) == tmp_path / "linli.sqlite3"


def test_the_default_instance_dir_is_var_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).INSTANCE_DIR == str(tmp_path / "var")


# --- development and testing -----------------------------------------------------------------------


def test_testing_accepts_the_defaults():
    settings = Settings.from_env({"LINLI_ENV": "testing"})
    settings.validate()
    assert settings.SECRET_KEY == DEFAULT_SECRET_KEY


@pytest.mark.parametrize("environ", [{}, {"LINLI_ENV": "development"}])
def test_every_environment_but_testing_refuses_the_default_secret_key(environ):
    assert "SECRET_KEY is the public default" in refusal(environ)


def test_development_refuses_a_short_secret_key():
    assert str(MIN_SECRET_KEY_LENGTH) in refusal({"LINLI_ENV": "development", "SECRET_KEY": "short"})


def test_the_default_environment_is_development():
    settings = Settings.from_env({})
    assert settings.LINLI_ENV == "development"
    assert settings.flask_config()["TESTING"] is False


def test_testing_sets_flask_testing():
    assert Settings.from_env({"LINLI_ENV": "testing"}).flask_config()["TESTING"] is True


def test_without_wechat_credentials_the_fake_ones_are_used():
    settings = Settings.from_env({})
    config = settings.flask_config()
    assert settings.uses_fake_wechat is True
    assert config["WECHAT_APPID"]
    assert config["WECHAT_SECRET"]


def test_empty_values_mean_the_default():
    settings = Settings.from_env({"WECHAT_TIMEOUT_SECONDS": "", "DATABASE_URL": "  ", "LINLI_ENV": ""})
    assert settings.WECHAT_TIMEOUT_SECONDS == 10
    assert settings.DATABASE_URL is None
    assert settings.LINLI_ENV == "development"


def test_numbers_are_parsed():
    settings = Settings.from_env({"WECHAT_TIMEOUT_SECONDS": " 7 ", "MAX_CONTENT_LENGTH": "2048"})
    assert settings.WECHAT_TIMEOUT_SECONDS == 7
    assert settings.flask_config()["MAX_CONTENT_LENGTH"] == 2048


def test_overrides_replace_known_settings_and_ignore_unknown_keys():
    settings = Settings.from_env({}).with_overrides({"SECRET_KEY": GOOD_SECRET, "NOT_A_SETTING": 1})
    assert settings.SECRET_KEY == GOOD_SECRET
    assert not hasattr(settings, "NOT_A_SETTING")


def test_overrides_are_validated_too():
    settings = Settings.from_env({}).with_overrides({"LINLI_ENV": "production"})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        settings.validate()


def test_production_refuses_the_example_link_base_of_qr_codes():
    assert "QR_LINK_BASE" in refusal(production(QR_LINK_BASE=None))


@pytest.mark.parametrize(
    "base", ["http://linli.example.cn/c", "https://linli.example.cn", "https://x.cn/c?a=1", "c"]
)
def test_qr_links_must_be_https_with_a_path(base):
    assert "QR_LINK_BASE" in refusal(production(QR_LINK_BASE=base))


def test_the_build_a_printed_code_opens_is_one_of_wechats_three():
    assert Settings.from_env(production(WECHAT_ENV_VERSION="Trial")).WECHAT_ENV_VERSION == "trial"
    assert "WECHAT_ENV_VERSION" in refusal(production(WECHAT_ENV_VERSION="beta"))
