from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class WorkspaceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WORKSPACE_", extra="ignore")

    http_port: int = 8004
    mongo_database: str = "exemplars_workspace"
    # Where people reach the workspace (the links in the mails start with it).
    public_base_url: str = "http://127.0.0.1:8004"
    # Shared with the notifications service, which mints the links it mails (shared/links.py).
    link_secret: SecretStr | None = None
    # Signs the session cookies; rotating it signs everybody out.
    session_secret: SecretStr | None = None
    session_hours: float = 8.0
    # Cookies only over HTTPS: off for the local run on plain http://127.0.0.1 alone.
    cookie_secure: bool = True
    # The local run's sign-in page listing the directory's people: never in production.
    dev_sign_in: bool = False
    # Sign-in through the ministry's identity provider (OpenID Connect, e.g. a Keycloak realm):
    # on when the issuer and the client id are set. The redirect URI registered with the
    # provider is PUBLIC_BASE_URL + /signin/oidc/callback.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None  # none for a public client (PKCE alone)
    oidc_person_claim: str = "staff_id"  # the ID token's claim holding the directory's staff id
    oidc_scopes: str = "openid"
    # The criteria sets come from the evaluations service's read API, with a token of ours.
    evaluations_url: str = "http://127.0.0.1:8002"
    evaluations_token_file: str | None = None
    # The programme the nominations service applies: its open years and quota, for the units' form.
    programme_file: str | None = None  # None: the programme shipped in shared/programme.yaml
    # Where the operators' `exemplars report --out` writes the review report the ministry office reads.
    report_dir: str | None = None

    @model_validator(mode="after")
    def _secrets_are_set(self) -> "WorkspaceSettings":
        for name in ("link_secret", "session_secret"):
            secret = getattr(self, name)
            if secret is None or len(secret.get_secret_value()) < 32:
                raise ValueError(f"{name} must be set, at least 32 characters")
        return self
