"""Settings, read only from the environment through typed parsers."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105  (the development default, refused in production)
MIN_SECRET_KEY_LENGTH = 32
ENVIRONMENTS = ("development", "production", "testing")
REAL_WECHAT_API_BASE = "https://api.weixin.qq.com"
FAKE_WECHAT_APPID = "wx-fake-appid"
FAKE_WECHAT_SECRET = "fake-secret"  # noqa: S105  (the local fake WeChat's credential)
DEFAULT_WISH_CATEGORIES = "生活帮扶,学习用品,就医陪护,家电维修,文体娱乐,其他"

T = TypeVar("T")


class ConfigError(RuntimeError):
    """The environment does not describe a startable app; the message says which setting."""


def parse_str(raw: str) -> str:
    """Return the raw string, stripped."""
    return raw.strip()


def parse_int(raw: str) -> int:
    """Parse a whole number."""
    return int(raw.strip())


def parse_bool(raw: str) -> bool:
    """Parse 1/0, true/false, yes/no, on/off."""
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def parse_positive_int(raw: str) -> int:
    """Parse a whole number of at least 1."""
    value = int(raw.strip())
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def parse_categories(raw: str) -> str:
    """Parse WISH_CATEGORIES: comma-separated names, at least one, none longer than 20 characters."""
    names = [name.strip() for name in raw.replace("，", ",").split(",") if name.strip()]
    if not names or any(len(name) > 20 for name in names) or len(set(names)) != len(names):
        raise ValueError("must be distinct comma-separated names of at most 20 characters")
    return ",".join(names)


def parse_proxy_hops(raw: str) -> int:
    """Parse TRUSTED_PROXY_HOPS: how many reverse proxies stand in front, 0 to 5."""
    value = int(raw.strip())
    if not 0 <= value <= 5:
        raise ValueError("must be a whole number from 0 to 5")
    return value


def parse_environment(raw: str) -> str:
    """Parse LINLI_ENV."""
    value = raw.strip().lower()
    if value not in ENVIRONMENTS:
        raise ValueError(f"must be one of {', '.join(ENVIRONMENTS)}")
    return value


def parse_expiry_policy(raw: str) -> str:
    """Parse POINTS_EXPIRY_POLICY."""
    value = raw.strip().lower()
    if value not in ("none", "end_of_next_year"):
        raise ValueError("must be none or end_of_next_year")
    return value


def parse_printed_code(raw: str) -> str:
    """Parse CHECKIN_PRINTED_CODE."""
    value = raw.strip().lower()
    if value not in ("auto", "wxacode", "qrcode"):
        raise ValueError("must be auto, wxacode or qrcode")
    return value


WECHAT_ENV_VERSIONS = ("release", "trial", "develop")
MINIPROGRAM_STATES = ("formal", "trial", "developer")


def parse_miniprogram_state(raw: str) -> str:
    """Parse WECHAT_MINIPROGRAM_STATE: which build a subscribe message opens."""
    value = raw.strip().lower()
    if value not in MINIPROGRAM_STATES:
        raise ValueError("must be formal, trial or developer")
    return value


def parse_env_version(raw: str) -> str:
    """Parse WECHAT_ENV_VERSION: which build of the mini program a printed code opens."""
    value = raw.strip().lower()
    if value not in WECHAT_ENV_VERSIONS:
        raise ValueError("must be release, trial or develop")
    return value


def parse_link_base(raw: str) -> str:
    """Parse QR_LINK_BASE: an https URL with a path (WeChat opens only https links of a registered rule)."""
    value = raw.strip().rstrip("/")
    host_and_path = value.removeprefix("https://")
    if host_and_path == value or "/" not in host_and_path or "?" in value or "#" in value:
        raise ValueError("must be an https URL with a path and no query, e.g. https://linli.example.org/c")
    return value


def parse_public_base_url(raw: str) -> str:
    """Parse PUBLIC_BASE_URL: the https origin (and path) the mini program reaches this server at."""
    value = raw.strip().rstrip("/")
    if not value.startswith("https://") or len(value) <= len("https://") or "?" in value or "#" in value:
        raise ValueError("must be an https URL without a query, e.g. https://linli.example.org")
    return value


VERSION_PATTERN = re.compile(r"^\d{1,4}(\.\d{1,4}){0,3}$")


def parse_client_version(raw: str) -> str:
    """Parse MIN_CLIENT_VERSION: dotted numbers, as the mini program's version (1.4.2)."""
    value = raw.strip()
    if not VERSION_PATTERN.match(value):
        raise ValueError("must be dotted numbers, e.g. 1.4.2")
    return value


def parse_database_url(raw: str) -> str:
    """Accept postgres:// and postgresql:// and point them at psycopg 3."""
    value = raw.strip()
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix) :]
    if not value.startswith(("postgresql+psycopg://", "sqlite://")):
        raise ValueError("must be a postgresql:// or sqlite:// URL")
    return value


def parse_url(raw: str) -> str:
    """Parse an http(s) or redis URL without a trailing slash."""
    value = raw.strip().rstrip("/")
    if "://" not in value:
        raise ValueError("must be a URL")
    return value


def _env(environ: Mapping[str, str], name: str, parser: Callable[[str], T], default: T) -> T:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parser(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from exc


DEV_SECRET_KEY_FILE = "secret_key"  # noqa: S105  (a file name, not a secret)


def development_secret_key(instance_dir: str | Path) -> str:
    """The local key in ``<instance_dir>/secret_key``: generated (0600) on first use, then read back."""
    path = Path(instance_dir) / DEV_SECRET_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{DEV_SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(draft, path)  # atomic and refuses to replace: concurrent first runs agree on one key
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def prepare_local_environment(environ: MutableMapping[str, str]) -> None:
    """Under the ``flask`` command LINLI_ENV defaults to development; development without SECRET_KEY
    gets the key of ``development_secret_key``, so a server and its worker share it. Servers (gunicorn)
    get no default: with nothing configured they are refused by ``Settings.validate``."""
    if environ.get("FLASK_RUN_FROM_CLI") == "true" and not environ.get("LINLI_ENV", "").strip():
        environ["LINLI_ENV"] = "development"
    if (
        environ.get("LINLI_ENV", "").strip().lower() == "development"
        and not environ.get("SECRET_KEY", "").strip()
    ):
        instance_dir = environ.get("LINLI_INSTANCE_DIR", "").strip() or str(Path.cwd() / "var")
        environ["SECRET_KEY"] = development_secret_key(instance_dir)


@dataclass(frozen=True)
class Settings:
    """Every setting the app reads; names are the environment variables."""

    LINLI_ENV: str = "development"
    SECRET_KEY: str = DEFAULT_SECRET_KEY
    DATABASE_URL: str | None = None
    REDIS_URL: str | None = None
    REDIS_PREFIX: str = "linli:"
    WECHAT_APPID: str | None = None
    WECHAT_SECRET: str | None = None
    WECHAT_API_BASE: str = REAL_WECHAT_API_BASE
    WECHAT_TIMEOUT_SECONDS: int = 10
    ACCESS_TOKEN_TTL_SECONDS: int = 7200
    REFRESH_TOKEN_TTL_DAYS: int = 30
    REFRESH_REUSE_GRACE_SECONDS: int = 30
    IDEMPOTENCY_KEY_TTL_HOURS: int = 24
    LOGIN_RATE_LIMIT: str = "10 per minute"
    LOGIN_RATE_LIMIT_PER_ADDRESS: str = "3000 per minute"
    MAX_CONTENT_LENGTH: int = 12 * 1024 * 1024
    POINTS_EXPIRY_POLICY: str = "none"
    NOTIFICATION_TEMPLATES_FILE: str | None = None
    CHECKIN_TOKEN_KEYS: str | None = None
    CHECKIN_PRINTED_CODE: str = "auto"
    CHECKIN_RATE_LIMIT: str = "30 per minute"
    CHECKIN_SHORT_CODE_RATE_LIMIT: str = "5 per 10 minutes"
    QR_LINK_BASE: str = "https://linli.example.org/c"
    WECHAT_ENV_VERSION: str = "release"
    WECHAT_MINIPROGRAM_STATE: str = "formal"
    PUBLIC_BASE_URL: str | None = None
    MIN_CLIENT_VERSION: str = "1.0.0"
    STORE_REQUEST_DAYS: int = 7
    STORE_PICKUP_DAYS: int = 14
    OUTBOX_BACKLOG_WARN_SECONDS: int = 300
    FILES_DIR: str | None = None
    FILES_MAX_BYTES: int = 5 * 1024 * 1024
    FILES_MAX_SIDE: int = 2560
    FILES_UPLOAD_RATE_LIMIT: str = "60 per hour"
    WISH_CATEGORIES: str = DEFAULT_WISH_CATEGORIES
    WISH_CLAIM_DAYS: int = 7
    WISH_MAX_OPEN_CLAIMS: int = 3
    WISH_CONFIRM_DAYS: int = 7
    WISH_POINTS_RULE: str = "WISH_FULFILLED"
    WISH_MIN_FULFIL_MINUTES: int = 10
    WISH_POST_RATE_LIMIT: str = "5 per day"
    WISH_MAX_PENDING: int = 3
    WISH_PAIR_DAYS: int = 30
    # Reverse proxies in front whose X-Forwarded-For/-Proto are believed: 0 (the default) believes none,
    # so a client reaching the app directly cannot choose its address for the per-address limits and logs.
    TRUSTED_PROXY_HOPS: int = 0
    WISH_CLAIMS_PER_DAY: int = 3
    WISH_RECLAIM_COOLDOWN_HOURS: int = 24
    MEMBER_SEARCH_RATE_LIMIT: str = "120 per hour"
    STAFF_UNLOCK_CODE_AFTER: int = 20
    FILES_MAX_LOSSLESS_PIXELS: int = 16_000_000
    FILES_DECODE_SLOTS: int = 2
    AUDIT_RETENTION_DAYS: int = 365
    INSTANCE_DIR: str = field(default_factory=lambda: str(Path.cwd() / "var"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from the environment, refusing malformed values."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            LINLI_ENV=_env(env, "LINLI_ENV", parse_environment, defaults.LINLI_ENV),
            SECRET_KEY=_env(env, "SECRET_KEY", parse_str, defaults.SECRET_KEY),
            DATABASE_URL=_env(env, "DATABASE_URL", parse_database_url, None),
            REDIS_URL=_env(env, "REDIS_URL", parse_url, None),
            REDIS_PREFIX=_env(env, "REDIS_PREFIX", parse_str, defaults.REDIS_PREFIX),
            WECHAT_APPID=_env(env, "WECHAT_APPID", parse_str, None),
            WECHAT_SECRET=_env(env, "WECHAT_SECRET", parse_str, None),
            WECHAT_API_BASE=_env(env, "WECHAT_API_BASE", parse_url, defaults.WECHAT_API_BASE),
            WECHAT_TIMEOUT_SECONDS=_env(env, "WECHAT_TIMEOUT_SECONDS", parse_int, 10),
            ACCESS_TOKEN_TTL_SECONDS=_env(env, "ACCESS_TOKEN_TTL_SECONDS", parse_int, 7200),
            REFRESH_TOKEN_TTL_DAYS=_env(env, "REFRESH_TOKEN_TTL_DAYS", parse_int, 30),
            REFRESH_REUSE_GRACE_SECONDS=_env(env, "REFRESH_REUSE_GRACE_SECONDS", parse_int, 30),
            IDEMPOTENCY_KEY_TTL_HOURS=_env(env, "IDEMPOTENCY_KEY_TTL_HOURS", parse_positive_int, 24),
            LOGIN_RATE_LIMIT=_env(env, "LOGIN_RATE_LIMIT", parse_str, defaults.LOGIN_RATE_LIMIT),
            LOGIN_RATE_LIMIT_PER_ADDRESS=_env(
                env, "LOGIN_RATE_LIMIT_PER_ADDRESS", parse_str, defaults.LOGIN_RATE_LIMIT_PER_ADDRESS
            ),
            MAX_CONTENT_LENGTH=_env(env, "MAX_CONTENT_LENGTH", parse_int, defaults.MAX_CONTENT_LENGTH),
            POINTS_EXPIRY_POLICY=_env(env, "POINTS_EXPIRY_POLICY", parse_expiry_policy, "none"),
            NOTIFICATION_TEMPLATES_FILE=_env(env, "NOTIFICATION_TEMPLATES_FILE", parse_str, None),
            CHECKIN_TOKEN_KEYS=_env(env, "CHECKIN_TOKEN_KEYS", parse_str, None),
            CHECKIN_PRINTED_CODE=_env(env, "CHECKIN_PRINTED_CODE", parse_printed_code, "auto"),
            CHECKIN_RATE_LIMIT=_env(env, "CHECKIN_RATE_LIMIT", parse_str, defaults.CHECKIN_RATE_LIMIT),
            CHECKIN_SHORT_CODE_RATE_LIMIT=_env(
                env, "CHECKIN_SHORT_CODE_RATE_LIMIT", parse_str, defaults.CHECKIN_SHORT_CODE_RATE_LIMIT
            ),
            QR_LINK_BASE=_env(env, "QR_LINK_BASE", parse_link_base, defaults.QR_LINK_BASE),
            PUBLIC_BASE_URL=_env(env, "PUBLIC_BASE_URL", parse_public_base_url, None),
            MIN_CLIENT_VERSION=_env(
                env, "MIN_CLIENT_VERSION", parse_client_version, defaults.MIN_CLIENT_VERSION
            ),
            WECHAT_ENV_VERSION=_env(
                env, "WECHAT_ENV_VERSION", parse_env_version, defaults.WECHAT_ENV_VERSION
            ),
            WECHAT_MINIPROGRAM_STATE=_env(
                env, "WECHAT_MINIPROGRAM_STATE", parse_miniprogram_state, defaults.WECHAT_MINIPROGRAM_STATE
            ),
            STORE_REQUEST_DAYS=_env(env, "STORE_REQUEST_DAYS", parse_int, 7),
            STORE_PICKUP_DAYS=_env(env, "STORE_PICKUP_DAYS", parse_int, 14),
            OUTBOX_BACKLOG_WARN_SECONDS=_env(env, "OUTBOX_BACKLOG_WARN_SECONDS", parse_int, 300),
            FILES_DIR=_env(env, "FILES_DIR", parse_str, None),
            FILES_MAX_BYTES=_env(env, "FILES_MAX_BYTES", parse_int, defaults.FILES_MAX_BYTES),
            FILES_MAX_SIDE=_env(env, "FILES_MAX_SIDE", parse_int, defaults.FILES_MAX_SIDE),
            FILES_UPLOAD_RATE_LIMIT=_env(
                env, "FILES_UPLOAD_RATE_LIMIT", parse_str, defaults.FILES_UPLOAD_RATE_LIMIT
            ),
            WISH_CATEGORIES=_env(env, "WISH_CATEGORIES", parse_categories, defaults.WISH_CATEGORIES),
            WISH_CLAIM_DAYS=_env(env, "WISH_CLAIM_DAYS", parse_positive_int, 7),
            WISH_MAX_OPEN_CLAIMS=_env(env, "WISH_MAX_OPEN_CLAIMS", parse_positive_int, 3),
            WISH_CONFIRM_DAYS=_env(env, "WISH_CONFIRM_DAYS", parse_positive_int, 7),
            WISH_POINTS_RULE=_env(env, "WISH_POINTS_RULE", parse_str, defaults.WISH_POINTS_RULE),
            WISH_MIN_FULFIL_MINUTES=_env(env, "WISH_MIN_FULFIL_MINUTES", parse_int, 10),
            WISH_POST_RATE_LIMIT=_env(env, "WISH_POST_RATE_LIMIT", parse_str, defaults.WISH_POST_RATE_LIMIT),
            WISH_MAX_PENDING=_env(env, "WISH_MAX_PENDING", parse_positive_int, 3),
            WISH_PAIR_DAYS=_env(env, "WISH_PAIR_DAYS", parse_int, 30),
            TRUSTED_PROXY_HOPS=_env(env, "TRUSTED_PROXY_HOPS", parse_proxy_hops, 0),
            WISH_CLAIMS_PER_DAY=_env(env, "WISH_CLAIMS_PER_DAY", parse_positive_int, 3),
            WISH_RECLAIM_COOLDOWN_HOURS=_env(env, "WISH_RECLAIM_COOLDOWN_HOURS", parse_int, 24),
            MEMBER_SEARCH_RATE_LIMIT=_env(
                env, "MEMBER_SEARCH_RATE_LIMIT", parse_str, defaults.MEMBER_SEARCH_RATE_LIMIT
            ),
            STAFF_UNLOCK_CODE_AFTER=_env(env, "STAFF_UNLOCK_CODE_AFTER", parse_positive_int, 20),
            FILES_MAX_LOSSLESS_PIXELS=_env(
                env, "FILES_MAX_LOSSLESS_PIXELS", parse_positive_int, defaults.FILES_MAX_LOSSLESS_PIXELS
            ),
            FILES_DECODE_SLOTS=_env(env, "FILES_DECODE_SLOTS", parse_positive_int, 2),
            AUDIT_RETENTION_DAYS=_env(env, "AUDIT_RETENTION_DAYS", parse_positive_int, 365),
            INSTANCE_DIR=_env(env, "LINLI_INSTANCE_DIR", parse_str, defaults.INSTANCE_DIR),
        )

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> Settings:
        """Return a copy with the known keys of ``overrides`` replaced."""
        if not overrides:
            return self
        known = {f.name for f in fields(self)}
        values = asdict(self)
        values.update({k: v for k, v in overrides.items() if k in known})
        return Settings(**values)

    @property
    def uses_fake_wechat(self) -> bool:
        """True when no real WeChat credentials are configured."""
        return not self.WECHAT_APPID

    def validate(self) -> None:
        """Refuse what no app may start with: outside testing a public or short key; production is strict."""
        if self.LINLI_ENV == "testing":
            return
        problems = []
        if self.SECRET_KEY == DEFAULT_SECRET_KEY:
            problems.append(
                "SECRET_KEY is the public default; set a random value of at least 32 characters "
                "(or LINLI_ENV=development, as `make run` and `flask` commands do, for a key generated "
                f"in {DEV_SECRET_KEY_FILE} under the instance directory)"
            )
        elif len(self.SECRET_KEY) < MIN_SECRET_KEY_LENGTH:
            problems.append(f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters")
        if self.LINLI_ENV != "production":
            if problems:
                raise ConfigError(f"refusing to start (LINLI_ENV={self.LINLI_ENV}): " + "; ".join(problems))
            return
        if not self.DATABASE_URL:
            problems.append("DATABASE_URL is not set (production needs PostgreSQL)")
        if not self.WECHAT_APPID or not self.WECHAT_SECRET:
            problems.append("WECHAT_APPID and WECHAT_SECRET must be set in production")
        if self.QR_LINK_BASE == Settings.QR_LINK_BASE:
            problems.append("QR_LINK_BASE must be set in production (the link rule registered with WeChat)")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))

    def flask_config(self) -> dict[str, Any]:
        """The Flask config mapping derived from these settings."""
        database_url = self.DATABASE_URL or f"sqlite:///{Path(self.INSTANCE_DIR) / 'linli.sqlite3'}"
        wechat_appid = self.WECHAT_APPID or FAKE_WECHAT_APPID
        wechat_secret = self.WECHAT_SECRET or (FAKE_WECHAT_SECRET if self.uses_fake_wechat else "")
        engine_options: dict[str, Any] = {"pool_pre_ping": True}
        if database_url.startswith("sqlite"):
            engine_options = {"connect_args": {"timeout": 15, "check_same_thread": False}}
        return {
            **asdict(self),
            "ENV_NAME": self.LINLI_ENV,
            "TESTING": self.LINLI_ENV == "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "WECHAT_APPID": wechat_appid,
            "WECHAT_SECRET": wechat_secret,
            "MAX_CONTENT_LENGTH": self.MAX_CONTENT_LENGTH,
            "FILES_DIR": self.FILES_DIR or str(Path(self.INSTANCE_DIR) / "files"),
            "JSON_AS_ASCII": False,
        }
