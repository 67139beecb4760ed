import datetime as dt

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class NominationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOMINATIONS_", extra="ignore")

    http_port: int = 8001
    mongo_database: str = "exemplars_nominations"
    programme_file: str | None = None  # None: the programme shipped in shared/programme.yaml
    shortfall_check_seconds: float = 3600.0
    # Every check also waits until the intake has been read to its end (services/nominations/app.py).
    shortfall_first_check_seconds: float = 60.0
    clock_today: dt.date | None = None  # freeze "today" for rehearsals and tests
