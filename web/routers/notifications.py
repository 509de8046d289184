"""Notifications: the list, the unread badge in the top bar, and "mark all as read"."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from casework import notifications as notification_service
from web.deps import CurrentActor, PageParam, ServicesDep, signed_in
from web.responses import API_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)


class NotificationPublic(BaseModel):
    subject: str
    body: str
    created_at: str
    unread: bool
    case_id: str | None
    case_reference: str | None


class NotificationList(BaseModel):
    items: list[NotificationPublic]
    total: int
    unread: int
    page: int
    pages: int


@api.get("", response_model=NotificationList)
async def list_notifications_api(
    services: ServicesDep, actor: CurrentActor, page: PageParam = 1
) -> NotificationList:
    """Notifications to you or to your roles (escalations, SAR deadlines, new alerts), newest first."""
    found = await notification_service.list_notifications(services.db, actor, page=page)
    return NotificationList(
        items=[
            NotificationPublic(
                subject=i.notification.subject,
                body=i.notification.body,
                created_at=i.notification.created_at.isoformat(),
                unread=i.unread,
                case_id=str(i.case_id) if i.case_id else None,
                case_reference=i.case_reference,
            )
            for i in found.items
        ],
        total=found.total,
        unread=found.unread,
        page=found.page,
        pages=found.pages,
    )


@pages.get("/notifications")
async def read_notifications(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    page: PageParam = 1,
) -> Response:
    found = await notification_service.list_notifications(services.db, actor, page=page)
    return render(request, "notifications.html", {"found": found})


@pages.get("/notifications/badge")
async def read_notification_badge(
    request: Request, services: ServicesDep, actor: CurrentActor
) -> Response:
    unread = await notification_service.unread_count(services.db, actor)
    return render(request, "partials/notification_badge.html", {"unread": unread})


@pages.post("/notifications/seen", dependencies=[Depends(signed_in)])
async def mark_notifications_seen(services: ServicesDep, actor: CurrentActor) -> Response:
    await notification_service.mark_all_seen(services.db, actor)
    return RedirectResponse("/notifications", status_code=303)
