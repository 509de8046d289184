"""The Temporal namespace's custom search attributes: the keys every case workflow carries.

Ids and categories only: search attributes are not encrypted, so no personal data here.
The kernel's start function sets them when a case's workflow starts, workflows update
`CaseStatus` as they move, the status page and the tests search by them, and the
infrastructure registers them with the namespace (`core.temporal.ensure_search_attributes`,
the dev server's `--search-attribute` flags in `core.embedded`). That last use is why they
live here, at the bottom of the layers, and not in the kernel: core imports nothing above it.

Deterministic and free of I/O: imported inside the workflow sandbox.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CASE_ID = SearchAttributeKey.for_keyword("CaseId")
CASE_TYPE = SearchAttributeKey.for_keyword("CaseType")
CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
RISK_LEVEL = SearchAttributeKey.for_keyword("RiskLevel")

SEARCH_ATTRIBUTES = (CASE_ID, CASE_TYPE, CASE_STATUS, CUSTOMER_ID, RISK_LEVEL)
