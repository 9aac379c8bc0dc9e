"""`onsight thermal ...`: read radiometric files, evaluate screening rules."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Annotated, NoReturn

import numpy as np
import typer

from onsight.errors import OnsightError
from onsight.thermal.formats import ThermalImage, false_colour, iter_seq

thermal_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

# --- read (formats helper) ---


def _read_fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _read_frame(file: Path, frame: int) -> ThermalImage:
    if not file.exists():
        _read_fail(f"file not found: {file}")
    if file.is_dir():
        _read_fail(f"{file} is a directory, not a thermal image file")
    if frame < 0:
        _read_fail(f"--frame must be 0 or more, not {frame}")
    frames = iter_seq(file)
    try:
        found = list(islice(frames, frame + 1))
    finally:
        frames.close()
    if len(found) <= frame:
        _read_fail(f"{file} has {len(found)} frame(s); --frame {frame} does not exist")
    return found[frame]


@thermal_app.command("read")
def read_command(
    file: Annotated[
        Path, typer.Argument(help="FLIR radiometric JPEG, FFF or SEQ file.", show_default=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    png: Annotated[
        Path | None,
        typer.Option(help="Write a false-colour image; skin-warm regions are obliterated."),
    ] = None,
    frame: Annotated[int, typer.Option(help="Frame of a SEQ file, 0 = the first.")] = 0,
) -> None:
    """Print the camera, size, emissivity and temperature range of a radiometric file."""
    try:
        image = _read_frame(file, frame)
        celsius = image.celsius()
        valid = celsius[np.isfinite(celsius)]
        if valid.size == 0:
            _read_fail(f"truncated or corrupt thermal file {file}: no valid temperatures")
        if png is not None:
            from onsight.privacy.thermal import save_thermal_redacted  # OpenCV: only here

            save_thermal_redacted(png, celsius, false_colour(celsius))
    except (OnsightError, OSError) as exc:
        _read_fail(str(exc))
    summary = {
        "camera": image.camera,
        "width": image.width,
        "height": image.height,
        "min_c": round(float(valid.min()), 2),
        "max_c": round(float(valid.max()), 2),
        "median_c": round(float(np.median(valid)), 2),
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"camera: {image.camera}")
    typer.echo(f"size: {image.width}x{image.height} px")
    typer.echo(f"emissivity: {image.params.emissivity:.2f}")
    for key in ("min", "max", "median"):
        typer.echo(f"{key}: {summary[key + '_c']:.2f} °C")
    if png is not None:
        typer.echo(f"wrote {png} (skin-warm regions obliterated)")


# --- evaluate (screening helper) ---


@thermal_app.command("evaluate")
def evaluate_command(
    csv_file: Annotated[
        Path,
        typer.Argument(
            metavar="CSV",
            help="FDA/PhysioNet facial-IR + oral table (FLIR_groups1and2.csv).",
            show_default=False,
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Replay the FDA/PhysioNet subjects through the screening rules: sensitivity/specificity."""
    # Imported here: the evaluation is not needed by `thermal read`.
    from onsight.thermal.evaluate import evaluate
    from onsight.thermal.evaluate_report import print_evaluation
    from onsight.thermal.fda import read_fda_csv

    try:
        table = read_fda_csv(csv_file)
        result = evaluate(table.subjects, table.skipped)
    except OnsightError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"rules": [s.as_json() for s in result.scores]}))
        return
    print_evaluation(result)
