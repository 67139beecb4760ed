import datetime as dt

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class EvaluationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVALUATIONS_", extra="ignore")

    http_port: int = 8002
    mongo_database: str = "exemplars_evaluations"
    programme_file: str | None = None  # None: the programme shipped in shared/programme.yaml
    criteria_dir: str | None = None  # None: the criteria sets shipped with the service
    reminder_check_seconds: float = 3600.0
    # An evaluator who replaces a recused colleague gets at least this many days to score.
    replacement_min_days: int = 7
    clock_today: dt.date | None = None  # freeze "today" for rehearsals and tests
