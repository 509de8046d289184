"""A time-skipping Temporal test server and a worker of its own for every test.

Time skipping is global to one server, so workflows left behind by one test would hold
the clock for the next: each test gets a fresh server (it starts in well under a second).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import (
    Client,
    FetchWorkflowHistoryEventsInput,
    Interceptor,
    OutboundInterceptor,
    WorkflowHistoryEventAsyncIterator,
)
from temporalio.testing import WorkflowEnvironment

from core import embedded
from core.codec import build_data_converter
from core.db import Database
from core.search_attributes import SEARCH_ATTRIBUTES
from core.settings import Settings
from tests.codec_keys import codec_ring
from worker import build_worker


class _LongPollUntilEvent(WorkflowHistoryEventAsyncIterator):
    """A history long poll that is asked again when the server ends it empty.

    A real server ends an empty long poll with a next-page token, and the SDK polls again.
    The time-skipping test server ends it after 20 s with neither events nor token, so a
    workflow that ran longer than that in real time (a big statement; any workflow on a
    loaded machine) made `handle.result()` raise "No completion event found" while it was
    still running fine (seen in test_rescreening under load; measured with a 150 s activity).
    """

    async def fetch_next_page(self, *, page_size: int | None = None) -> None:
        while True:
            await super().fetch_next_page(page_size=page_size)
            if self.current_page or self.next_page_token:
                return


class _PatientHistoryPolls(Interceptor):
    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _PatientHistoryPollsOutbound(next)


class _PatientHistoryPollsOutbound(OutboundInterceptor):
    def fetch_workflow_history_events(
        self, input: FetchWorkflowHistoryEventsInput
    ) -> WorkflowHistoryEventAsyncIterator:
        events = super().fetch_workflow_history_events(input)
        if not input.wait_new_event:
            return events
        # The SDK's iterator, made patient: same client (private, but stable), same request.
        return _LongPollUntilEvent(events._client, input)


async def start_skipping_env() -> WorkflowEnvironment:
    """A fresh time-skipping test server that knows our search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=build_data_converter(codec_ring()),
        test_server_existing_path=str(embedded.venv_binary("temporal-test-server")),
        interceptors=[_PatientHistoryPolls()],
    )
    # The test server does not know our search attributes until told (see stack notes);
    # it cannot list them either, so register them outright.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES
            },
        )
    )
    return env


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_skipping_env()
    yield env
    await env.shutdown()


@dataclass
class Skipping:
    env: WorkflowEnvironment
    client: Client
    settings: Settings


@pytest.fixture
async def skipping(
    skipping_env: WorkflowEnvironment, db: Database, settings: Settings
) -> AsyncIterator[Skipping]:
    queue = f"skip-{uuid.uuid4().hex[:8]}"
    local = settings.model_copy(update={"task_queue": queue})
    async with build_worker(skipping_env.client, db, queue):
        yield Skipping(skipping_env, skipping_env.client, local)
