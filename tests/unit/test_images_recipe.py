"""Image recipes, the images.toml table and the bootstrap command: pure, no engine."""

from __future__ import annotations

import dataclasses
import platform
import shlex
from pathlib import Path

import pytest
from docker.models.images import Image

from harness.errors import InfrastructureError, InputError, InvalidInputFile
from harness.images import catalogue as image_catalogue
from harness.images import provision as images
from harness.scenario.tomlload import Checker

SUITES = ("bullseye", "bookworm", "trixie", "sid")
ARCHES = ("x86_64", "aarch64", "i686", "ppc64le", "s390x")


def test_table_has_every_suite_and_arch() -> None:
    catalogue = image_catalogue.load_catalogue()
    assert set(SUITES) <= set(catalogue.suites)
    assert catalogue.suites["sid"].mirror_suite == "unstable"
    for suite in SUITES:
        assert set(ARCHES) <= set(catalogue.suites[suite].arches)
        assert catalogue.suites[suite].arches["ppc64le"] == "ppc64el"
        assert catalogue.suites[suite].arches["i686"] == "i386"


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("arch", ARCHES)
def test_every_suite_and_arch_has_a_recipe(suite: str, arch: str) -> None:
    recipe = images.recipe_for(suite, arch)
    assert recipe.tag == f"wheelclash/target:debian-{suite}-{arch}"
    assert len(recipe.recipe_hash) == 64


def test_target_and_builder_packages() -> None:
    target = images.recipe_for("bookworm", "x86_64")
    builder = images.recipe_for("bookworm", "x86_64", "builder")
    assert {"python3", "python3-venv", "python3-pip", "gdb", "libgomp1"} <= set(target.packages)
    assert set(target.packages) < set(builder.packages)
    assert {"g++", "python3-dev", "python3-setuptools", "python3-wheel", "binutils"} <= set(
        builder.packages
    )
    assert builder.tag == "wheelclash/builder:debian-bookworm-x86_64"
    assert builder.recipe_hash != target.recipe_hash


def test_recipe_hash_is_stable() -> None:
    first = images.recipe_for("bookworm", "x86_64")
    image_catalogue.load_catalogue.cache_clear()
    second = images.recipe_for("bookworm", "x86_64")
    assert first == second
    assert first.recipe_hash == second.recipe_hash
    # Listing the same extra packages in another order or twice is the same recipe.
    a = images.recipe_for("trixie", "x86_64", "builder", ("g++-13", "clang-16"))
    b = images.recipe_for("trixie", "x86_64", "builder", ("clang-16", "g++-13", "clang-16"))
    assert a.recipe_hash == b.recipe_hash
    assert a.tag == b.tag


def test_recipe_hash_changes_with_the_package_list() -> None:
    base = images.recipe_for("bookworm", "x86_64", "builder")
    extended = images.recipe_for("bookworm", "x86_64", "builder", ("g++-11",))
    assert "g++-11" in extended.packages
    assert extended.recipe_hash != base.recipe_hash
    assert extended.tag.startswith("wheelclash/builder:debian-bookworm-x86_64-")
    assert extended.tag != base.tag
    edited = dataclasses.replace(base, packages=(*base.packages, "strace"))
    assert edited.recipe_hash != base.recipe_hash
    assert dataclasses.replace(base, mirror_suite="stable").recipe_hash != base.recipe_hash


def test_recipe_hash_differs_per_suite_and_arch() -> None:
    hashes = {images.recipe_for(s, a).recipe_hash for s in SUITES for a in ARCHES}
    assert len(hashes) == len(SUITES) * len(ARCHES)


def test_unknown_suite_names_valid_suites() -> None:
    with pytest.raises(InputError, match="unknown Debian suite 'buster'") as caught:
        images.recipe_for("buster", "x86_64")
    for suite in SUITES:
        assert suite in str(caught.value)


def test_unknown_arch_names_valid_arches() -> None:
    with pytest.raises(InputError, match="unknown arch 'riscv64'") as caught:
        images.recipe_for("bookworm", "riscv64")
    assert "aarch64" in str(caught.value)
    with pytest.raises(InputError, match="unknown arch 'amd64'"):
        images.recipe_for("bookworm", "amd64")  # Debian's spelling is not an arch name here


def test_unknown_role_names_valid_roles() -> None:
    with pytest.raises(InputError, match="unknown image role 'runner'") as caught:
        images.recipe_for("bookworm", "x86_64", "runner")
    assert "builder" in str(caught.value)
    assert "target" in str(caught.value)


@pytest.mark.parametrize("bad", ["G++", "", "x", "gcc; rm -rf /", "a,b"])
def test_extra_packages_must_be_debian_names(bad: str) -> None:
    with pytest.raises(InputError, match="not a Debian package name"):
        images.recipe_for("bookworm", "x86_64", "builder", (bad,))


def test_mmdebstrap_command() -> None:
    recipe = images.recipe_for("sid", "aarch64", "builder", ("clang-16",))
    command = images.mmdebstrap_command(recipe, Path("/t/rootfs.tar"), Path("/t/v s.tsv"))
    assert command[0] == "mmdebstrap"
    assert command[-3:] == ["unstable", "/t/rootfs.tar", "http://deb.debian.org/debian"]
    assert "--architectures=arm64" in command
    assert "--variant=apt" in command
    include = next(c for c in command if c.startswith("--include="))
    assert set(include.removeprefix("--include=").split(",")) == set(recipe.packages)
    hook = next(c for c in command if c.startswith("--customize-hook="))
    words = shlex.split(hook.removeprefix("--customize-hook="))
    assert words[:2] == ["dpkg-query", "--admindir=$1/var/lib/dpkg"]
    assert words[-5:] == ["libc6", "libstdc++6", "python3", ">", "/t/v s.tsv"]


def test_parse_versions() -> None:
    text = "libc6\t2.36-9+deb12u4\nlibstdc++6:amd64\t12.2.0-14\npython3\t3.11.2-1+b1\n"
    assert images.parse_versions(text) == {
        "libc6": "2.36-9+deb12u4",
        "libstdc++6": "12.2.0-14",
        "python3": "3.11.2-1+b1",
    }
    with pytest.raises(InfrastructureError, match="no python3"):
        images.parse_versions("libc6\t2.36\nlibstdc++6\t12\n")


def test_import_changes_label_the_image() -> None:
    recipe = images.recipe_for("bookworm", "x86_64")
    versions = {"libc6": "2.36-9", "libstdc++6": "12.2.0-14", "python3": "3.11.2-1"}
    changes = images.import_changes(recipe, versions, "2026-01-02T03:04:05+00:00")
    label = next(c for c in changes if c.startswith("LABEL "))
    assert f'org.wheelclash.recipe-hash="{recipe.recipe_hash}"' in label
    assert 'org.wheelclash.glibc="2.36-9"' in label
    assert 'org.wheelclash.libstdcxx="12.2.0-14"' in label
    assert 'org.wheelclash.python="3.11.2-1"' in label
    assert 'org.wheelclash.suite="bookworm"' in label
    assert 'org.wheelclash.role="target"' in label
    assert "ENV LANG=C.UTF-8" in changes
    assert any(c.startswith("CMD ") for c in changes)


def _load(tmp_path: Path, text: str) -> image_catalogue.ImageCatalogue:
    path = tmp_path / "images.toml"
    path.write_text(text, encoding="utf-8")
    return image_catalogue.load_catalogue.__wrapped__(path)


def test_table_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = """
[bootstrap]
mirror = "http://deb.debian.org/debian"
colour = "blue"
[platforms.x86_64]
oci = "amd64"
qemu = "x86_64"
[suites.bookworm]
arches = { x86_64 = "amd64", riscv64 = "riscv64" }
[roles.target]
packages = ["python3", "Bad Name"]
[roles.builder]
extends = "missing"
packages = ["g++"]
"""
    with pytest.raises(InvalidInputFile) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "bootstrap.colour" in message
    assert "suites.bookworm.arches.riscv64" in message
    assert "roles.target.packages" in message
    assert "roles.builder.extends" in message


def test_role_extends_loops_are_problems(tmp_path: Path) -> None:
    text = """
[bootstrap]
mirror = "m"
[roles.a]
extends = "b"
[roles.b]
extends = "a"
"""
    with pytest.raises(InvalidInputFile, match="a loop"):
        _load(tmp_path, text)


def test_extends_puts_base_packages_first() -> None:
    check = Checker(Path("x.toml"))
    catalogue = image_catalogue.ImageCatalogue.from_toml(
        {
            "bootstrap": {"mirror": "m"},
            "roles": {"a": {"packages": ["pa"]}, "b": {"extends": "a", "packages": ["qb"]}},
        },
        check,
    )
    assert not check.problems
    assert catalogue.packages("b") == ("pa", "qb")


def test_image_info_json_round_trip_fields() -> None:
    info = images.ImageInfo(
        tag="wheelclash/target:debian-bookworm-x86_64",
        image_id="sha256:" + "ab" * 32,
        digest=None,
        source="bootstrap",
        suite="bookworm",
        arch="x86_64",
        role="target",
        glibc="2.36-9",
        libstdcxx="12.2.0-14",
        python="3.11.2-1",
        bootstrap_date="2026-01-02T03:04:05+00:00",
        recipe_hash="0" * 64,
        emulated=False,
    )
    assert info.short_id == "abababababab"
    assert info.to_json()["glibc"] == "2.36-9"
    assert info.to_json()["short_id"] == "abababababab"


@pytest.mark.parametrize(
    ("host", "arch", "emulated"),
    [
        ("x86_64", "x86_64", False),
        ("x86_64", "i686", False),
        ("x86_64", "aarch64", True),
        ("aarch64", "x86_64", True),
        ("arm64", "aarch64", False),
        ("amd64", "s390x", True),
    ],
)
def test_emulation_follows_the_host(
    monkeypatch: pytest.MonkeyPatch, host: str, arch: str, emulated: bool
) -> None:
    monkeypatch.setattr(platform, "machine", lambda: host)
    assert image_catalogue.is_emulated(arch) is emulated
    assert images.recipe_for("bookworm", arch).emulated is emulated


def test_reference_image_info_from_engine_attrs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    image = Image(
        attrs={
            "Id": "sha256:" + "cd" * 32,
            "RepoTags": ["quay.io/pypa/manylinux_2_28_aarch64:latest"],
            "RepoDigests": ["quay.io/pypa/manylinux_2_28_aarch64@sha256:" + "ef" * 32],
            "Architecture": "arm64",
            "Created": "2026-01-02T03:04:05Z",
            "Config": {"Labels": None},
        }
    )
    info = images.ImageInfo.from_image(image)
    assert info.tag == "quay.io/pypa/manylinux_2_28_aarch64:latest"
    assert info.source == "reference"
    assert info.arch == "aarch64"
    assert info.emulated is True
    assert info.digest is not None and info.digest.endswith("ef" * 32)
    assert (info.glibc, info.libstdcxx, info.python, info.recipe_hash) == (None,) * 4
    assert info.role == "target"


def test_bootstrapped_image_info_from_labels() -> None:
    recipe = images.recipe_for("trixie", "x86_64")
    versions = {"libc6": "2.41-12", "libstdc++6": "14.2.0-19", "python3": "3.13.5-1"}
    label_line = images.import_changes(recipe, versions, "2026-01-02T03:04:05+00:00")[0]
    pairs = (word.split("=", 1) for word in label_line.split()[1:])
    labels = {key: value.strip('"') for key, value in pairs}
    image = Image(
        attrs={
            "Id": "sha256:" + "12" * 32,
            "RepoTags": ["other:tag", recipe.tag],
            "Architecture": "amd64",
            "Config": {"Labels": labels},
        }
    )
    info = images.ImageInfo.from_image(image)
    assert info.tag == recipe.tag
    assert info.source == "bootstrap"
    assert (info.suite, info.arch, info.role) == ("trixie", "x86_64", "target")
    assert (info.glibc, info.libstdcxx, info.python) == ("2.41-12", "14.2.0-19", "3.13.5-1")
    assert info.recipe_hash == recipe.recipe_hash
    assert info.digest is None


def test_a_throwaway_repository_tags_the_same_recipe_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    default = images.recipe_for("bookworm", "x86_64", "builder", ("g++-11",))
    monkeypatch.setenv(images.REPOSITORY_ENV, "wheelclash-scratch-42")
    scratch = images.recipe_for("bookworm", "x86_64", "builder", ("g++-11",))
    assert scratch.tag == default.tag.replace("wheelclash/", "wheelclash-scratch-42/", 1)
    assert scratch.recipe_hash == default.recipe_hash  # the same contents, another name
    tags = ["wheelclash/target:x", "wheelclash-scratch-42/target:x", "other/wheelclash-scratch-42"]
    assert images.in_repository(tags) == ["wheelclash-scratch-42/target:x"]
    monkeypatch.setenv(images.REPOSITORY_ENV, "me/scratch.images")
    assert (
        images.recipe_for("trixie", "x86_64").tag == "me/scratch.images/target:debian-trixie-x86_64"
    )
    monkeypatch.setenv(images.REPOSITORY_ENV, "")
    assert images.repository() == "wheelclash"


@pytest.mark.parametrize("name", ["Upper", "a b", "trailing-", "-lead", "a//b", "a:b"])
def test_a_bad_repository_name_is_an_input_error(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(images.REPOSITORY_ENV, name)
    with pytest.raises(InputError) as caught:
        images.recipe_for("bookworm", "x86_64").tag  # noqa: B018
    assert f"WHEELCLASH_IMAGE_REPOSITORY={name!r}" in str(caught.value)
    assert "unset it" in str(caught.value)
