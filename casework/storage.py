"""Where a case attachment's bytes live: one interface, two implementations.

- `DatabaseStorage` (ATTACHMENT_STORAGE=database, the default): a bytea row in
  `case_attachment_blob`, written in the same transaction as the attachment's row and its
  audit event, so a file and its record come and go together; backups are the database's.
- `FileStorage` (ATTACHMENT_STORAGE=files): one file per attachment under ATTACHMENTS_DIR
  (default DATA_DIR/attachments), written (temporary name, fsync, rename) before the row
  commits; a transaction that fails afterwards abandons the file.

Both are content-addressed on the way out: whoever reads the bytes checks them against the
sha256 recorded when they came in (casework/attachments.py). An attachment is read through
the storage its row names, so changing ATTACHMENT_STORAGE leaves older files readable.

The same four steps fit an S3-compatible object store (put before commit, get, purge after
the removal commits, abandon on rollback); see the report on issue 15 for how to add one.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import ClassVar, Protocol

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.settings import Settings
from models.case_notes import CaseAttachmentBlob


class AttachmentStorage(Protocol):
    name: ClassVar[str]

    async def put(self, session: AsyncSession, attachment_id: uuid.UUID, content: bytes) -> str:
        """Store the bytes of a new attachment (its row is already flushed); the key."""

    async def get(self, session: AsyncSession, key: str) -> bytes | None:
        """The bytes stored under `key`, None when they are gone."""

    async def drop(self, session: AsyncSession, key: str) -> None:
        """Inside the transaction that marks the attachment removed."""

    async def purge(self, key: str) -> None:
        """After that transaction committed."""

    async def abandon(self, key: str) -> None:
        """After the transaction of a `put` rolled back."""


class DatabaseStorage:
    name: ClassVar[str] = "database"

    async def put(self, session: AsyncSession, attachment_id: uuid.UUID, content: bytes) -> str:
        session.add(CaseAttachmentBlob(attachment_id=attachment_id, content=content))
        await session.flush()
        return str(attachment_id)

    async def get(self, session: AsyncSession, key: str) -> bytes | None:
        return (
            await session.exec(
                select(CaseAttachmentBlob.content).where(
                    CaseAttachmentBlob.attachment_id == uuid.UUID(key)
                )
            )
        ).first()

    async def drop(self, session: AsyncSession, key: str) -> None:
        blob = await session.get(CaseAttachmentBlob, uuid.UUID(key))
        if blob is not None:
            await session.delete(blob)  # the database refuses it unless the row is removed
            await session.flush()

    async def purge(self, key: str) -> None:
        return None

    async def abandon(self, key: str) -> None:
        return None  # rolled back with the row


class FileStorage:
    name: ClassVar[str] = "files"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:  # keys are ours, but never leave the root
            raise ValueError(f"attachment key outside the storage root: {key!r}")
        return path

    async def put(self, session: AsyncSession, attachment_id: uuid.UUID, content: bytes) -> str:
        key = f"{attachment_id.hex[:2]}/{attachment_id}"
        await asyncio.to_thread(self._write, self._path(key), content)
        return key

    @staticmethod
    def _write(path: Path, content: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    async def get(self, session: AsyncSession, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def drop(self, session: AsyncSession, key: str) -> None:
        return None  # the file goes once the removal is committed

    async def purge(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def abandon(self, key: str) -> None:
        await self.purge(key)


def storage_named(name: str, settings: Settings) -> AttachmentStorage:
    if name == DatabaseStorage.name:
        return DatabaseStorage()
    if name == FileStorage.name:
        return FileStorage(settings.attachments_path)
    raise ValueError(f"unknown attachment storage {name!r}")


def configured_storage(settings: Settings) -> AttachmentStorage:
    """Where new attachments go (ATTACHMENT_STORAGE)."""
    return storage_named(settings.attachment_storage, settings)
