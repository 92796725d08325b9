"""``kubesmith images``: manage the node's image store from the command line, beside or
without a running agent (the store's index is safe to share between processes)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Iterator
from pathlib import Path

from kubesmith.agent.images.content import DigestMismatch
from kubesmith.agent.images.credentials import RegistryAuth
from kubesmith.agent.images.importer import ArchiveError
from kubesmith.agent.images.model import ImageInfo, ImageInUseError, ImagePullError
from kubesmith.agent.images.reference import parse_reference
from kubesmith.agent.images.store import ImageStore
from kubesmith.agent.images.unpack import LayerError
from kubesmith.agent.paths import DEFAULT_ROOT, AgentPaths

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human_size(size: float) -> str:
    """Decimal units with three significant digits, as ``crictl images`` prints sizes."""
    unit = 0
    while size >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.3g}{_UNITS[unit]}"


def image_rows(images: list[ImageInfo]) -> Iterator[tuple[str, str, str, str]]:
    """(IMAGE, TAG, IMAGE ID, SIZE) rows: one per name, like ``crictl images``."""
    for image in images:
        short_id, size = image.id.removeprefix("sha256:")[:13], human_size(image.size)
        names = [(r.name, r.tag or "<none>") for r in map(parse_reference, image.references)]
        if not names:
            names = [(d.partition("@")[0], "<none>") for d in image.repo_digests[:1]]
        for name, tag in names or [("<none>", "<none>")]:
            yield name, tag, short_id, size


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root-dir", type=Path, default=DEFAULT_ROOT,
                        help="the agent's state directory (default %(default)s)")
    common.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                        help="registry to reach over plain HTTP (loopback always is)")
    parser = argparse.ArgumentParser(prog="kubesmith images",
                                     description="Manage the container images of this node.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("import", parents=[common],
                       help="import an OCI-layout or docker save tarball")
    p.add_argument("file", type=Path)
    p.add_argument("--base-name", help="repository for images the archive names by tag only")
    p = sub.add_parser("list", aliases=["ls"], parents=[common], help="list images")
    p.add_argument("-q", "--quiet", action="store_true", help="print image ids only")
    p = sub.add_parser("pull", parents=[common], help="pull an image from its registry")
    p.add_argument("image")
    p.add_argument("--creds", metavar="USER[:PASSWORD]",
                   help="registry credentials (the password is prompted for if omitted)")
    p = sub.add_parser("remove", aliases=["rmi"], parents=[common], help="remove images")
    p.add_argument("images", nargs="+")
    p = sub.add_parser("gc", parents=[common],
                       help="remove unused images while the disk is above the threshold")
    p.add_argument("--high-percent", type=int, default=85)
    p.add_argument("--low-percent", type=int, default=80)
    return parser


def images_main(argv: list[str]) -> int:
    """Run ``kubesmith images ARGV``; returns the exit status."""
    args = _parser().parse_args(argv)
    store = ImageStore(AgentPaths(root=args.root_dir).images,
                       insecure_registries=args.insecure_registry)
    try:
        return _run(store, args)
    except (ImagePullError, ImageInUseError, ArchiveError, LayerError, DigestMismatch,
            ValueError, OSError) as exc:
        print(f"error: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1


def _run(store: ImageStore, args: argparse.Namespace) -> int:
    command = {"ls": "list", "rmi": "remove"}.get(args.command, args.command)
    if command == "import":
        for image in store.import_archive(args.file, base_name=args.base_name):
            print(f"imported {', '.join(image.references) or '(unnamed)'} {image.id}")
    elif command == "list":
        images = store.list()
        if args.quiet:
            for image in images:
                print(image.id)
            return 0
        rows = [("IMAGE", "TAG", "IMAGE ID", "SIZE"), *image_rows(images)]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            print("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                  + "   " + row[3])
    elif command == "pull":
        image = asyncio.run(store.pull(args.image, _credentials(args.image, args.creds)))
        print(f"Image is up to date for {image.id}")
    elif command == "remove":
        status = 0
        for name in args.images:
            removed = store.remove(name)
            if removed is None:
                print(f"error: no such image {name}", file=sys.stderr)
                status = 1
            else:
                print(f"Deleted: {name}")
        return status
    elif command == "gc":
        for image_id in store.garbage_collect(set(), args.high_percent, args.low_percent):
            print(f"Deleted: {image_id}")
    return 0


def _credentials(image: str, creds: str | None) -> list[RegistryAuth]:
    if not creds:
        return []
    username, sep, password = creds.partition(":")
    if not sep:
        password = getpass.getpass(f"Password for {username}: ")
    return [RegistryAuth(server=parse_reference(image).domain, username=username,
                         password=password)]
