"""Response shapes of the maintenance API (documented in OpenAPI; the views build the same documents)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from hearth_maintenance.domain import Category, Priority, Source, Status


class WindowOut(BaseModel):
    start: str
    end: str


class HistoryOut(BaseModel):
    kind: str = Field(description="created, status_changed, reassigned, rescheduled, alert_cleared, code_used")
    from_: str | None = Field(default=None, alias="from", description="Status before (status changes)")
    to: str | None = Field(default=None, description="Status after (status changes)")
    actor_id: str = Field(description="Member (mem_...) or API key (key_...) that acted, or `system`")
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    at: str


class CommentOut(BaseModel):
    id: str
    request_id: str
    author_id: str
    body: str
    created_at: str


class RequestOut(BaseModel):
    id: str
    building_id: str
    unit_id: str | None
    title: str
    description: str
    category: Category
    priority: Priority
    status: Status
    allowed_next: list[Status] = Field(description="States this request may move to next")
    source: Source
    reporter_id: str | None
    permission_to_enter: bool
    entry_notes: str | None
    assignee_id: str | None
    vendor_name: str | None
    scheduled_window: WindowOut | None
    due_at: str = Field(description="SLA deadline from the org's settings for its priority")
    overdue: bool = Field(description="Open and past due_at")
    completed_at: str | None
    attachments: list[str]
    reopen_count: int
    sensor_id: str | None = Field(description="Sensor whose alert opened it")
    alert_id: str | None
    alert_active: bool = Field(description="Its sensor alert is still raised (completion needs force)")
    lock_id: str | None = Field(description="Lock whose report opened it")
    created_by: str
    created_at: str
    updated_at: str
    history: list[HistoryOut] | None = Field(default=None, description="GET one only")
    comments: list[CommentOut] | None = Field(default=None, description="GET one only (first 100)")


class PageMeta(BaseModel):
    total: int = Field(description="Matches (requests lists: counted up to 1,000)")
    page: int
    limit: int
    total_capped: bool | None = Field(default=None, description="True when there are more than `total` matches")


class RequestDoc(BaseModel):
    data: RequestOut


class RequestPage(BaseModel):
    data: list[RequestOut]
    meta: PageMeta


class CommentDoc(BaseModel):
    data: CommentOut


class CommentPage(BaseModel):
    data: list[CommentOut]
    meta: PageMeta


class SlaHoursOut(BaseModel):
    emergency: int
    high: int
    normal: int
    low: int


class SettingsOut(BaseModel):
    sla_hours: SlaHoursOut
    defaults: bool = Field(description="True while the org has not set its own")
    updated_at: str | None


class SettingsDoc(BaseModel):
    data: SettingsOut
