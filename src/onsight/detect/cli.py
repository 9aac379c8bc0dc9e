"""`onsight models ...`: list, verify, fetch and build detector weights."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from onsight.detect.registry import (
    BUILT_MODELS,
    DEFAULT_MODEL,
    MODELS,
    fetch,
    install,
    locate,
    search_dirs,
    user_cache_dir,
    verify,
)
from onsight.errors import ModelError

models_app = typer.Typer(help="List, verify and download detector models.", no_args_is_help=True)

ModelDir = Annotated[
    Path | None,
    typer.Option(
        "--model-dir",
        help="Look here first (then $ONSIGHT_MODELS, $ONSIGHT_ASSETS/models, the user cache).",
    ),
]


def _error(message: str) -> None:
    # Text() rather than markup: messages contain paths and brackets that must print verbatim.
    Console(stderr=True, soft_wrap=True, highlight=False).print(Text(message, style="red"))


@models_app.command("list")
def list_models(model_dir: ModelDir = None) -> None:
    """Show every known model and whether its files are present (hashes are not checked)."""
    table = Table(caption=f"default: {DEFAULT_MODEL}")
    for column in ("name", "licence", "input", "classes", "status", "path"):
        table.add_column(column, overflow="fold")
    for spec in [*MODELS.values(), *BUILT_MODELS.values()]:
        try:
            status, path = "[green]present[/]", str(locate(spec, model_dir).weights)
        except ModelError:
            status, path = "[red]missing[/]", str(search_dirs(model_dir)[0] / spec.weights)
        table.add_row(
            spec.name,
            spec.licence,
            f"{spec.input_size}x{spec.input_size}",
            str(spec.num_classes),
            status,
            path,
        )
    Console(soft_wrap=True).print(table)


@models_app.command("verify")
def verify_models(
    name: Annotated[
        str | None, typer.Argument(help="Model to check; all known models if omitted.")
    ] = None,
    model_dir: ModelDir = None,
) -> None:
    """Check the sha256 of a model's files (exit 1 if any is missing or differs)."""
    console = Console(soft_wrap=True, highlight=False)
    failed = False
    for model in [name] if name is not None else list(MODELS):
        try:
            files = verify(model, model_dir)
        except ModelError as exc:
            _error(str(exc))
            failed = True
            continue
        console.print(Text.assemble(("ok ", "green"), f"{model} {files.directory}"))
    if failed:
        raise typer.Exit(code=1)


@models_app.command("install")
def install_models(
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Folder holding the model files (default: $ONSIGHT_ASSETS/models).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Copy the bundled models (hash-checked) into the user cache, so `onsight` finds them
    from any shell without ONSIGHT_ASSETS (`make demo` does this)."""
    from onsight.privacy import faces

    if source is None:
        assets = os.environ.get("ONSIGHT_ASSETS")
        if not assets:
            _error("give --from FOLDER, or set ONSIGHT_ASSETS to the shared assets folder")
            raise typer.Exit(code=1)
        source = Path(assets) / "models"
    if not source.is_dir():
        _error(f"no such folder: {source}")
        raise typer.Exit(code=1)
    wanted = {name: sha for spec in MODELS.values() for name, sha in spec.files.items()}
    wanted[faces.WEIGHTS] = faces.SHA256
    try:
        done, missing = install(source, wanted)
    except ModelError as exc:
        _error(str(exc))
        raise typer.Exit(code=1) from None
    console = Console(soft_wrap=True, highlight=False)
    console.print(
        Text.assemble(("installed ", "green"), f"{len(done)} files into {user_cache_dir()}")
    )
    if missing:
        console.print(
            f"not in {source} (fetch with `onsight models fetch NAME`): {', '.join(missing)}"
        )


@models_app.command("fetch")
def fetch_model(
    name: Annotated[str, typer.Argument(help=f"Model to download, e.g. {DEFAULT_MODEL}.")],
) -> None:
    """Download a model from its official URL into the user cache and verify it."""
    try:
        files = fetch(name)
    except ModelError as exc:
        _error(str(exc))
        raise typer.Exit(code=1) from None
    Console(soft_wrap=True, highlight=False).print(
        Text.assemble(("fetched ", "green"), f"{name} into {files.directory}")
    )


@models_app.command("build-int8")
def build_int8(
    name: Annotated[
        str,
        typer.Argument(help="The int8 model, or the fp32 model it is built from."),
    ] = f"{DEFAULT_MODEL}_int8",
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model-dir",
            help="Build into this folder and look for the fp32 source here first "
            "(default: the user cache).",
        ),
    ] = None,
    frames: Annotated[
        int, typer.Option("--frames", min=1, help="Calibration frames from the sample clips.")
    ] = 300,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if up to date.")] = False,
) -> None:
    """Build an int8 (static QDQ) model from its verified fp32 weights, calibrated on frames
    of the sample clips in $ONSIGHT_ASSETS/video; skipped when its stamp is current."""
    from onsight.detect.quantize import build

    console = Console(soft_wrap=True, highlight=False)
    try:
        files, built = build(
            name, model_dir, frames=frames, model_dir=model_dir, force=force, progress=console.print
        )
    except ModelError as exc:
        _error(str(exc))
        raise typer.Exit(code=1) from None
    verb = "built " if built else "up to date "
    console.print(Text.assemble((verb, "green"), f"{files.spec.name} in {files.directory}"))
