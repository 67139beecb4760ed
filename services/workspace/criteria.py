"""The criteria sets, from the evaluations service's read API (`GET /criteria/{field}/{kind}`,
with the workspace's own bearer token): the evaluations service owns them, the workspace
shows them beside the score sheet. Kept per set version, so a set read once is not asked for
again; a newer version than the assignment's is shown with a warning, never silently."""

import logging
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("exemplars.workspace.criteria")


class CriteriaUnavailable(Exception):
    """The evaluations service could not be asked (the page says so and offers to try again)."""


class CriteriaSource:
    def __init__(self, base_url: str, token_file: str | None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        token = Path(token_file).read_text(encoding="utf-8").strip() if token_file else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=5.0, transport=transport)
        self._current: dict[tuple[str, str], dict[str, Any]] = {}

    async def for_assignment(self, assignment: dict[str, Any]) -> dict[str, Any]:
        """The set the assignment is scored against, as the service serves it now."""
        key = (assignment["field"], assignment["nominee_kind"])
        wanted = assignment["criteria"]
        cached = self._current.get(key)
        if cached and (cached["set_id"], cached["version"]) == (wanted["set_id"], wanted["version"]):
            return cached
        try:
            response = await self._http.get(f"/criteria/{key[0]}/{key[1]}")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("criteria %s/%s unavailable: %s", *key, exc)
            raise CriteriaUnavailable(str(exc)) from exc
        self._current[key] = response.json()
        return self._current[key]

    async def close(self) -> None:
        await self._http.aclose()
