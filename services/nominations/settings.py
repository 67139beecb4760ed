import datetime as dt

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class NominationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOMINATIONS_", extra="ignore")

    http_port: int = 8001
    mongo_database: str = "exemplars_nominations"
    programme_file: str | None = None  # None: the programme shipped in shared/programme.yaml
    shortfall_check_seconds: float = 3600.0
    # A new instance reads the intake from offset 0 before it may judge who is short.
    shortfall_first_check_seconds: float = 300.0
    clock_today: dt.date | None = None  # freeze "today" for rehearsals and tests
