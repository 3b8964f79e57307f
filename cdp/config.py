"""Settings, read once from the environment (prefix CDP_)."""

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///cdp.sqlite3",
        description="SQLAlchemy URL: sqlite:///file.db or postgresql+psycopg://user@host/db",
    )
    default_phone_region: str = Field(
        default="NL,BE",
        description="Regions tried in order for phone numbers written without a country code",
    )
    secret_key: SecretStr = Field(
        default=SecretStr("change-me-in-production"),
        description="Signs session cookies and CSRF tokens",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL used in exported links"
    )
    db_pool_size: int = 10
    session_idle_minutes: int = Field(
        default=120, ge=5, description="Staff are signed out after this long without a request"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
