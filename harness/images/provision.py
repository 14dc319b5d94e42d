"""Target and builder images: Debian suites bootstrapped offline, user references, Dockerfiles.

A `debian:<suite>` image is bootstrapped from the Debian mirror with `mmdebstrap` and loaded
into the engine with an image import, so no container registry is needed. Every image
wheelclash makes carries `org.wheelclash.*` labels (suite, arch, role, the glibc, libstdc++
and Python versions, the recipe hash), and an image is reused while its recipe hash matches.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal, Self

import docker
import docker.errors
from docker.models.images import Image

from harness.common import progress
from harness.common.locking import file_lock
from harness.common.progress import StageKind
from harness.errors import InfrastructureError, InputError
from harness.images import binfmt, usage
from harness.images.bootstrap_phases import load_phases
from harness.images.catalogue import (
    DEBIAN_NAME,
    IMAGES_TOML,
    host_arch,
    is_emulated,
    load_catalogue,
)
from harness.images.phased import run_phased
from harness.images.rootfs import load_rootfs

logger = logging.getLogger(__name__)

# Bump when the way an image is made changes in code rather than in images.toml.
RECIPE_VERSION: Final = 1
DEFAULT_REPOSITORY: Final = "wheelclash"
REPOSITORY_ENV: Final = "WHEELCLASH_IMAGE_REPOSITORY"
# A Docker repository path: lowercase components joined by '.', '_', '__' or dashes, and '/'.
_COMPONENT: Final = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_NAME: Final = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
LABEL: Final = "org.wheelclash."
LABEL_HASH: Final = LABEL + "recipe-hash"
MMDEBSTRAP_TIMEOUT: Final = 3600.0
# The packages whose versions an image reports, in ImageInfo field order.
VERSION_PACKAGES: Final = ("libc6", "libstdc++6", "python3")

Source = Literal["bootstrap", "reference", "dockerfile"]
_bootstraps = 0


def repository() -> str:
    """The repository wheelclash tags its images under: `WHEELCLASH_IMAGE_REPOSITORY`, else
    `wheelclash`. A test or benchmark sets a throwaway one to start cold and then removes
    only its own images; images are found only under the repository in use."""
    name = os.environ.get(REPOSITORY_ENV, "").strip() or DEFAULT_REPOSITORY
    if not REPOSITORY_NAME.match(name) or len(name) > 200:
        raise InputError(
            f"{REPOSITORY_ENV}={name!r} is not a Docker repository name",
            hint="use lowercase letters and digits, joined by '.', '_' or '-' (and '/' between "
            f"parts), e.g. wheelclash-scratch; or unset it for {DEFAULT_REPOSITORY!r}.",
        )
    return name


def in_repository(tags: Iterable[str]) -> list[str]:
    """The tags under the repository in use."""
    prefix = repository() + "/"
    return [tag for tag in tags if tag.startswith(prefix)]


# ---------------------------------------------------------------------------------------------
# Recipes and what the engine knows about an image


@dataclass(frozen=True, kw_only=True)
class ImageRecipe:
    """Everything that decides the contents of a bootstrapped image; hashed into its label."""

    suite: str
    arch: str
    role: str
    packages: tuple[str, ...]
    extra_packages: tuple[str, ...] = ()
    mirror: str
    mirror_suite: str
    debian_arch: str
    components: tuple[str, ...]
    variant: str
    dpkg_options: tuple[str, ...] = ()

    @property
    def recipe_hash(self) -> str:
        content = {"recipe_version": RECIPE_VERSION, **asdict(self)}
        blob = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    @property
    def tag(self) -> str:
        """`wheelclash/<role>:debian-<suite>-<arch>`; extra packages add a short hash of them."""
        name = f"{repository()}/{self.role}:debian-{self.suite}-{self.arch}"
        if self.extra_packages:
            extras = hashlib.sha256(",".join(self.extra_packages).encode()).hexdigest()
            name += f"-{extras[:10]}"
        return name

    @property
    def emulated(self) -> bool:
        return is_emulated(self.arch)


def recipe_for(
    suite: str, arch: str, role: str = "target", extra_packages: tuple[str, ...] = ()
) -> ImageRecipe:
    catalogue = load_catalogue()
    row = catalogue.suites.get(suite)
    if row is None:
        raise InputError(
            f"unknown Debian suite {suite!r}; valid suites: {', '.join(catalogue.suites)} "
            f"(see {IMAGES_TOML})"
        )
    if arch not in row.arches:
        raise InputError(
            f"unknown arch {arch!r} for debian:{suite}; valid arches: {', '.join(row.arches)}"
        )
    if role not in catalogue.roles:
        raise InputError(f"unknown image role {role!r}; valid roles: {', '.join(catalogue.roles)}")
    for package in extra_packages:
        if not DEBIAN_NAME.match(package):
            raise InputError(f"{package!r} is not a Debian package name (e.g. g++-12, clang-16)")
    extras = tuple(sorted(set(extra_packages)))
    return ImageRecipe(
        suite=suite,
        arch=arch,
        role=role,
        packages=tuple(sorted(set(catalogue.packages(role)) | set(extras))),
        extra_packages=extras,
        mirror=catalogue.bootstrap.mirror,
        mirror_suite=row.mirror_suite,
        debian_arch=row.arches[arch],
        components=catalogue.bootstrap.components,
        variant=catalogue.bootstrap.variant,
        dpkg_options=catalogue.bootstrap.dpkg_options,
    )


@dataclass(frozen=True, kw_only=True)
class ImageInfo:
    """One image in the engine, as its labels describe it. Versions are Debian package versions
    (`dpkg-query` of libc6, libstdc++6 and python3) and None where they are not known."""

    tag: str
    image_id: str
    digest: str | None  # a repo digest; None for imported and locally built images
    source: Source
    suite: str | None
    arch: str
    role: str
    glibc: str | None
    libstdcxx: str | None
    python: str | None
    bootstrap_date: str | None
    recipe_hash: str | None
    emulated: bool
    created: str | None = None

    @property
    def short_id(self) -> str:
        return self.image_id.removeprefix("sha256:")[:12]

    @classmethod
    def from_image(cls, image: Image, tag: str | None = None) -> Self:
        labels: dict[str, str] = dict(image.labels or {})
        attrs: dict[str, Any] = image.attrs
        ours = in_repository(image.tags)
        arch = labels.get(LABEL + "arch") or _arch_from_oci(str(attrs.get("Architecture", "")))
        source: Source = "reference"
        match labels.get(LABEL + "source"):
            case "bootstrap":
                source = "bootstrap"
            case "dockerfile":
                source = "dockerfile"
        digests = attrs.get("RepoDigests") or []
        return cls(
            tag=tag or (ours or image.tags or [image.short_id])[0],
            image_id=str(image.id),
            digest=str(digests[0]) if digests else None,
            source=source,
            suite=labels.get(LABEL + "suite"),
            arch=arch,
            role=labels.get(LABEL + "role", "target"),
            glibc=labels.get(LABEL + "glibc"),
            libstdcxx=labels.get(LABEL + "libstdcxx"),
            python=labels.get(LABEL + "python"),
            bootstrap_date=labels.get(LABEL + "bootstrap-date"),
            recipe_hash=labels.get(LABEL_HASH),
            emulated=is_emulated(arch),
            created=attrs.get("Created"),
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "short_id": self.short_id}


def _arch_from_oci(oci: str) -> str:
    for plat in load_catalogue().platforms.values():
        if plat.oci == oci:
            return plat.name
    return oci or "unknown"


def bootstrap_count() -> int:
    """How many images this process has bootstrapped (tests use it to prove a cache hit)."""
    return _bootstraps


# ---------------------------------------------------------------------------------------------
# Bootstrapped Debian images


def ensure_image(client: docker.DockerClient, recipe: ImageRecipe) -> ImageInfo:
    """The image for `recipe`, bootstrapped and imported unless one with its hash exists.

    Safe to call from several processes at once: one builds under a per-tag file lock, the
    others wait and then find its image.
    """
    found = _find_recipe_image(client, recipe)
    if found is None:
        check_emulation(recipe.arch)
        with file_lock("image-" + recipe.tag):
            found = _find_recipe_image(client, recipe) or _bootstrap(client, recipe)
    usage.record(found.image_id)
    return found


def find_image(client: docker.DockerClient, recipe: ImageRecipe) -> ImageInfo | None:
    """The engine's image for this recipe, without building it; None when there is none."""
    return _find_recipe_image(client, recipe)


def _find_recipe_image(client: docker.DockerClient, recipe: ImageRecipe) -> ImageInfo | None:
    with contextlib.suppress(docker.errors.ImageNotFound):
        image = client.images.get(recipe.tag)
        if image.labels.get(LABEL_HASH) == recipe.recipe_hash:
            return ImageInfo.from_image(image, recipe.tag)
    # The same recipe under another tag of this repository (re-tagged); another repository's
    # image is not taken, so a throwaway repository starts cold.
    labelled = client.images.list(filters={"label": f"{LABEL_HASH}={recipe.recipe_hash}"})
    matches = [image for image in labelled if in_repository(image.tags)]
    if not matches:
        return None
    repository, tag = recipe.tag.rsplit(":", 1)
    matches[0].tag(repository, tag)
    logger.info("re-tagged %s as %s", matches[0].short_id, recipe.tag)
    return ImageInfo.from_image(client.images.get(recipe.tag), recipe.tag)


def allow_expired_release() -> bool:
    """Opt-in for a mirror whose Release file is past its Valid-Until date (a stale sid copy).

    Off by default: the date check is apt's protection against replayed, outdated archives.
    """
    return os.environ.get("WHEELCLASH_ALLOW_EXPIRED_RELEASE", "") == "1"


def mmdebstrap_command(recipe: ImageRecipe, tarball: Path, versions: Path) -> list[str]:
    """The bootstrap command: a small root filesystem as a tarball, and the versions of
    VERSION_PACKAGES read from its dpkg database into the host-side file `versions`."""
    query = (
        'dpkg-query --admindir="$1/var/lib/dpkg" --show --showformat='
        + shlex.quote("${Package}\\t${Version}\\n")
        + " "
        + " ".join(VERSION_PACKAGES)
        + " > "
        + shlex.quote(str(versions))
    )
    return [
        "mmdebstrap",
        f"--variant={recipe.variant}",
        f"--architectures={recipe.debian_arch}",
        f"--components={','.join(recipe.components)}",
        f"--include={','.join(recipe.packages)}",
        '--aptopt=Acquire::Retries "3"',
        *(['--aptopt=Acquire::Check-Valid-Until "false"'] if allow_expired_release() else []),
        *(f"--dpkgopt={option}" for option in recipe.dpkg_options),
        f"--customize-hook={query}",
        "--format=tar",
        recipe.mirror_suite,
        str(tarball),
        recipe.mirror,
    ]


def parse_versions(text: str) -> dict[str, str]:
    """`package<TAB>version` lines, as written by the customize hook."""
    found = {}
    for line in text.splitlines():
        package, _, version = line.partition("\t")
        if version:
            found[package.split(":")[0]] = version.strip()
    missing = [p for p in VERSION_PACKAGES if p not in found]
    if missing:
        raise InfrastructureError(
            f"the bootstrapped image has no {', '.join(missing)}; the role's package list "
            f"must pull in {', '.join(VERSION_PACKAGES)} (check {IMAGES_TOML})"
        )
    return found


def image_labels(recipe: ImageRecipe, versions: Mapping[str, str], date: str) -> dict[str, str]:
    """The `org.wheelclash.*` labels of a bootstrapped image."""
    labels = {
        "source": "bootstrap",
        "suite": recipe.suite,
        "arch": recipe.arch,
        "role": recipe.role,
        "glibc": versions["libc6"],
        "libstdcxx": versions["libstdc++6"],
        "python": versions["python3"],
        "bootstrap-date": date,
        "packages": ",".join(recipe.packages),
        "recipe-version": str(RECIPE_VERSION),
        "recipe-hash": recipe.recipe_hash,
    }
    return {f"{LABEL}{key}": value for key, value in labels.items()}


IMAGE_ENV: Final = (
    "LANG=C.UTF-8",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
)
IMAGE_CMD: Final = ("/bin/bash",)


def import_changes(recipe: ImageRecipe, versions: Mapping[str, str], date: str) -> list[str]:
    """Dockerfile instructions applied to the imported root filesystem."""
    labels = image_labels(recipe, versions, date)
    label_line = " ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())
    return [
        f"LABEL {label_line}",
        *(f"ENV {variable}" for variable in IMAGE_ENV),
        f"CMD {json.dumps(list(IMAGE_CMD))}",
    ]


def _bootstrap(client: docker.DockerClient, recipe: ImageRecipe) -> ImageInfo:
    global _bootstraps
    if shutil.which("mmdebstrap") is None:
        raise InfrastructureError(
            f"building {recipe.tag} needs mmdebstrap, which is not on PATH.",
            hint="install it (`apt-get install mmdebstrap`, Debian 11 or later or Ubuntu 22.04 "
            "or later), or build on a machine that has it and `docker save`/`docker load` the "
            "image.",
        )
    previous = _image_id(client, recipe.tag)
    workdir = Path(tempfile.mkdtemp(prefix="wheelclash-bootstrap-"))
    try:
        tarball, versions_file = workdir / "rootfs.tar", workdir / "versions.tsv"
        command = mmdebstrap_command(recipe, tarball, versions_file)
        date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        logger.info("+ %s", shlex.join(command))
        started = time.monotonic()
        _bootstraps += 1
        _run_mmdebstrap(command, recipe)
        versions = parse_versions(versions_file.read_text(encoding="utf-8"))
        logger.info(
            "bootstrapped %s in %.0f s (%d MB)",
            recipe.tag,
            time.monotonic() - started,
            tarball.stat().st_size // 2**20,
        )
        repository, tag = recipe.tag.rsplit(":", 1)
        try:
            if recipe.arch == host_arch():
                client.api.import_image(
                    src=str(tarball),
                    repository=repository,
                    tag=tag,
                    changes=import_changes(recipe, versions, date),
                )
            else:  # an import would label it with the engine's arch; load says the right one
                load_rootfs(
                    client,
                    tarball,
                    tag=recipe.tag,
                    oci_arch=load_catalogue().platforms[recipe.arch].oci,
                    labels=image_labels(recipe, versions, date),
                    env=IMAGE_ENV,
                    cmd=IMAGE_CMD,
                    created=date,
                )
            image = client.images.get(recipe.tag)
        except docker.errors.APIError as exc:
            raise InfrastructureError(
                f"the engine did not import the root filesystem of {recipe.tag}.",
                context=str(exc),
                hint="check that the engine has room (`docker system df`) and try again.",
            ) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if previous is not None and previous != image.id:
        try:
            client.images.remove(previous)
            logger.info("removed the outdated image %s", previous)
        except docker.errors.APIError as exc:
            logger.info("kept the outdated image %s: %s", previous, exc)
    return ImageInfo.from_image(image, recipe.tag)


def _run_mmdebstrap(command: list[str], recipe: ImageRecipe) -> None:
    with progress.stage(StageKind.BOOTSTRAP, recipe.tag, total=len(load_phases().phases)) as step:
        done = run_phased(command, load_phases(), step, MMDEBSTRAP_TIMEOUT)
        if done.timed_out:
            raise InfrastructureError(
                f"mmdebstrap for {recipe.tag} did not finish within {MMDEBSTRAP_TIMEOUT:.0f} s.",
                hint=f"check that {recipe.mirror} is reachable and fast, or set a closer mirror "
                f"in {IMAGES_TOML}.",
            )
        step.end(ok=done.returncode == 0)
    if done.returncode == 0:
        return
    raise InfrastructureError(
        f"mmdebstrap failed (exit {done.returncode}) bootstrapping {recipe.tag} from "
        f"{recipe.mirror} {recipe.mirror_suite}.",
        context="\n".join(done.tail.strip().splitlines()[-15:]),
        hint="check that the mirror is reachable and has this suite and arch. "
        "An expired Release file or a half-synced archive (common on sid) is transient: "
        "retry later, or pick another suite; if you trust a mirror whose Release file has "
        "expired, set WHEELCLASH_ALLOW_EXPIRED_RELEASE=1. "
        "To see the full log, run the command by hand:\n"
        f"  {shlex.join(command)}",
    )


def check_emulation(arch: str) -> None:
    """Raise a runbook error unless this machine can run `arch` binaries (binfmt_misc, flag F)."""
    if is_emulated(arch):
        binfmt.require(arch, load_catalogue().platforms[arch].qemu, host_arch())


# ---------------------------------------------------------------------------------------------
# Images given by the user


def inspect_reference(client: docker.DockerClient, ref: str) -> ImageInfo:
    """A user-named image: the local one, or pulled. Its versions are not known yet (None)."""
    try:
        local = ImageInfo.from_image(client.images.get(ref), ref)
        usage.record(local.image_id)
        return local
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise InputError(f"{ref!r} is not a usable image reference: {exc.explanation}") from exc
    logger.info("+ pull %s", ref)
    try:
        pulled = client.images.pull(ref)
    except docker.errors.DockerException as exc:
        suites = ", ".join(f"debian:{s}" for s in load_catalogue().suites)
        reason = str(getattr(exc, "explanation", None) or exc).splitlines()[0][:300]
        raise InputError(
            f"image {ref!r} is not in the local engine and could not be pulled.",
            context=f"{reason}\nThis machine probably cannot reach a container registry.",
            hint=f"pull or build it where a registry is reachable, `docker save {ref} -o "
            "image.tar`, copy the file here and `docker load -i image.tar`;\n"
            f"or use a Debian target ({suites}), which wheelclash bootstraps offline "
            "from the Debian mirror with mmdebstrap;\n"
            "or give a Dockerfile whose FROM image is already in the local engine.",
        ) from exc
    image = pulled[0] if isinstance(pulled, list) else pulled
    usage.record(str(image.id))
    return ImageInfo.from_image(image, ref)


def build_dockerfile(client: docker.DockerClient, path: Path) -> ImageInfo:
    """An image built from a Dockerfile (its directory is the context), tagged by content hash."""
    dockerfile = path.resolve()
    if not dockerfile.is_file():
        raise InputError(f"{path}: no such Dockerfile; check the path")
    digest = _context_hash(dockerfile)
    tag = f"{repository()}/dockerfile:{digest[:16]}"
    with file_lock("image-" + tag):
        existing = client.images.list(filters={"label": f"{LABEL_HASH}={digest}"})
        if existing:
            usage.record(str(existing[0].id))
            return ImageInfo.from_image(existing[0], tag)
        labels = {
            LABEL + "source": "dockerfile",
            LABEL + "role": "target",
            LABEL + "dockerfile": str(dockerfile),
            LABEL_HASH: digest,
        }
        logger.info("+ build %s -t %s", dockerfile, tag)
        try:
            image, _ = client.images.build(
                path=str(dockerfile.parent),
                dockerfile=dockerfile.name,
                tag=tag,
                labels=labels,
                rm=True,
                forcerm=True,
            )
        except docker.errors.BuildError as exc:
            lines = [str(e.get("stream") or e.get("error") or "") for e in exc.build_log]
            raise InputError(
                f"{path} did not build: {exc.msg}",
                context="\n".join("".join(lines).strip().splitlines()[-15:]),
                hint="fix the Dockerfile. Without a registry, its FROM image must already be "
                "local (a wheelclash/target:debian-<suite>-<arch> image works).",
            ) from exc
        except docker.errors.APIError as exc:
            raise InfrastructureError(f"the engine failed building {path}: {exc}") from exc
    usage.record(str(image.id))
    return ImageInfo.from_image(image, tag)


def _context_hash(dockerfile: Path) -> str:
    """A hash of the Dockerfile and every file in its directory (the build context)."""
    digest = hashlib.sha256(f"wheelclash-dockerfile-{RECIPE_VERSION}\0{dockerfile.name}\0".encode())
    context = dockerfile.parent
    for root, dirs, files in os.walk(context):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            file = Path(root) / name
            digest.update(f"{file.relative_to(context)}\0".encode())
            if file.is_symlink():
                digest.update(f"-> {os.readlink(file)}\0".encode())
            elif file.is_file():
                digest.update(f"{file.stat().st_mode & 0o111:o}\0".encode())
                digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def resolve_target(
    client: docker.DockerClient, target: str, arch: str | None = None, role: str = "target"
) -> ImageInfo:
    """The image for a scenario or CLI target: `debian:<suite>` from images.toml is
    bootstrapped, an existing file is a Dockerfile, and anything else is an image reference."""
    kind, _, name = target.partition(":")
    if kind == "debian" and name in load_catalogue().suites:
        return ensure_image(client, recipe_for(name, arch or host_arch(), role))
    if Path(target).is_file():
        return build_dockerfile(client, Path(target))
    return inspect_reference(client, target)


# ---------------------------------------------------------------------------------------------
# Listing and clean-up


def list_images(client: docker.DockerClient) -> list[ImageInfo]:
    """Every image that carries wheelclash's labels, sorted by tag."""
    images = client.images.list(filters={"label": LABEL_HASH})
    return sorted((ImageInfo.from_image(i) for i in images), key=lambda info: info.tag)


def remove_images(client: docker.DockerClient, tags: Iterable[str]) -> None:
    for tag in tags:
        try:
            client.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    try:
        return str(client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        return None
