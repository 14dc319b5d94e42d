"""wheelclash's images as cache entries: listed with size and last use, removed on request.

Only images that carry wheelclash's recipe label are ever listed or removed.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
from docker.models.images import Image

from harness.images import usage
from harness.images.provision import LABEL_HASH, in_repository


def timestamp(text: object) -> float | None:
    """Epoch seconds of the engine's RFC 3339 times (nanoseconds and all); None if not one."""
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    head, _, rest = text.partition(".")
    zone = rest.lstrip("0123456789") if rest else text[19:]
    try:
        moment = datetime.datetime.fromisoformat(
            head[:19] + (zone or "+00:00").replace("Z", "+00:00")
        )
    except ValueError:
        return None
    return moment.timestamp()


@dataclass(frozen=True, kw_only=True)
class ImageEntry:
    tag: str
    image_id: str
    size: int  # bytes, as the engine reports the image (shared layers counted in each)
    last_used: float  # epoch seconds
    recorded: bool  # False: no use recorded, `last_used` is its creation or last tagging

    @property
    def short_id(self) -> str:
        return self.image_id.removeprefix("sha256:")[:12]


def entry(image: Image) -> ImageEntry:
    attrs: dict[str, Any] = image.attrs
    ours = in_repository(image.tags)
    image_id = str(image.id)
    used = usage.recorded_use(image_id)
    made = [
        t
        for t in (
            timestamp(attrs.get("Created")),
            timestamp((attrs.get("Metadata") or {}).get("LastTagTime")),
        )
        if t is not None
    ]
    return ImageEntry(
        tag=(ours or image.tags or [image.short_id])[0],
        image_id=image_id,
        size=int(attrs.get("Size") or 0),
        last_used=used if used is not None else max(made, default=0.0),
        recorded=used is not None,
    )


def entries(client: docker.DockerClient) -> list[ImageEntry]:
    """Every image that carries wheelclash's recipe label, and nothing else."""
    return [entry(image) for image in client.images.list(filters={"label": LABEL_HASH})]


def remove(client: docker.DockerClient, image: ImageEntry) -> str:
    """Remove the image (every tag of it); '' when gone, else the engine's reason (a running
    container uses it)."""
    try:
        client.images.remove(image.image_id, force=True)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        return str(exc.explanation or exc)
    usage.forget(image.image_id)
    return ""
