"""The workspace: broker, subscribers (its projection), the web pages, lifespan."""

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.workspace import web
from services.workspace.criteria import CriteriaSource
from services.workspace.handlers import Workspace
from services.workspace.oidc import OidcSignIn
from services.workspace.settings import WorkspaceSettings
from services.workspace.store import WorkspaceStore
from shared import asyncapi, kafka, mongo, topics
from shared.credentials import Credentials
from shared.envelope import Event
from shared.http import service_api, with_operations
from shared.metrics import ServiceMetrics
from shared.outages import until_available
from shared.programme import load_programme
from shared.vault import MongoVault, keys_to_seal

SERVICE = "workspace"
DESCRIPTION = """The workspace: the web pages where the people the programme addresses act on it.
It reads its own projection of the directory, nominations and evaluations topics, and writes
only by publishing signed events to the intake topics, for the person signed in."""
INTAKE_OF = {"evaluation.score_submitted": topics.EVALUATIONS_INTAKE,
             "evaluation.conflict_declared": topics.EVALUATIONS_INTAKE,
             "evaluation.comment_posted": topics.EVALUATIONS_INTAKE,
             "council.decision_recorded": topics.EVALUATIONS_INTAKE,
             "nomination.submitted": topics.NOMINATIONS_INTAKE,
             "nomination.withdrawn": topics.NOMINATIONS_INTAKE,
             "exemplar.review_reported": topics.EVALUATIONS_INTAKE,
             "exemplar.replication_reported": topics.EVALUATIONS_INTAKE,
             "exemplar.visit_reported": topics.EVALUATIONS_INTAKE}
log = logging.getLogger("exemplars.workspace")


def create_app(settings: WorkspaceSettings) -> FastAPI:
    programme = load_programme(settings.programme_file)  # the units' form: open years and quota
    client = mongo.connect(settings)
    store = WorkspaceStore(client[settings.mongo_database])
    credentials = Credentials.from_settings(settings, SERVICE, web.SOURCE)  # refuses to start without them
    vault = MongoVault.connect(client, settings.keys_database)  # the persons' keys (shared/personal.py)
    criteria = CriteriaSource(settings.evaluations_url, settings.evaluations_token_file)
    oidc = (OidcSignIn(settings.oidc_issuer, settings.oidc_client_id,
                       settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
                       settings.oidc_person_claim, f"{settings.public_base_url.rstrip('/')}/signin/oidc/callback",
                       settings.oidc_scopes)
            if settings.oidc_issuer and settings.oidc_client_id else None)

    metrics = ServiceMetrics(SERVICE)
    broker = kafka.make_broker(settings, SERVICE, metrics.middlewares)
    metrics.track_units(kafka.subscribe_units(broker, SERVICE, Workspace(), store.documents, settings, credentials,
                                              vault))
    sends = {f"{topic}.workspace": tuple(t for t, to in INTAKE_OF.items() if to == topic)
             for topic in sorted(set(INTAKE_OF.values()))}
    for title in sends:  # declared for the AsyncAPI document
        broker.publisher(title.removesuffix(".workspace"), title=title,
                         description="What people do in the workspace, signed as acting for them.")

    async def publish(event: Event, person: str) -> None:
        """Signed by the workspace as acting for `person` (the signed `actor` the trust
        registry's `signed_person` grant checks), confirmed by the broker."""
        keys = await keys_to_seal(vault, [event])  # personal fields are sealed in the log
        await kafka.publish(broker, kafka.outgoing(INTAKE_OF[event.type], [event], credentials.signer, actor=person,
                                                   keys=keys), settings)

    async def readiness() -> dict[str, bool]:
        return {"mongo": await mongo.ping(client), "kafka": await broker.ping(timeout=2.0)}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await until_available(store.ensure_indexes, "creating indexes")
        await kafka.start(broker)
        if settings.dev_sign_in:
            log.warning("WORKSPACE_DEV_SIGN_IN is on: anyone reaching this address may act as anyone. Local run only.")
        log.info("workspace started")
        try:
            yield
        finally:
            await broker.stop()
            await criteria.close()
            if oidc is not None:
                await oidc.close()
            await client.close()
            log.info("workspace stopped")

    api = service_api(SERVICE, readiness, lifespan)
    web.mount(api, settings, store, criteria, programme, publish, oidc)

    def document() -> dict:
        return asyncapi.document(broker, service=SERVICE, description=DESCRIPTION, sends=sends)

    return with_operations(api, metrics, document, settings)
