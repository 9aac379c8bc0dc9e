"""`onsight inspect ...`: learn a defect reference from good items, evaluate it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from onsight.cli_support import ConfigArg, fail
from onsight.cli_support import load as load_config
from onsight.errors import OnsightError

if TYPE_CHECKING:
    from onsight.types import Image

inspect_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

GoodOpt = Annotated[
    Path,
    typer.Option("--good", help="Folder of images of good items.", show_default=False),
]


def _reference_path(config: Path, camera: str, out: Path | None) -> Path:
    """Where `learn` writes: --out, else the camera's `inspection.reference` (relative to the
    config file's folder)."""
    loaded = load_config(config, require_secrets=False)  # learning never connects
    cameras = {c.name: c for c in loaded.config.cameras}
    if camera not in cameras:
        fail(f"{config}: no camera named {camera!r}; cameras: {', '.join(cameras)}")
    if out is not None:
        return out
    inspection = getattr(cameras[camera], "inspection", None)
    if inspection is None:
        fail(
            f"{config}: camera {camera!r} has no `inspection:` section; add one with a "
            "`reference:` path, or give --out"
        )
    reference = getattr(inspection, "reference", None)
    if not reference:
        fail(
            f"{config}: camera {camera!r}: inspection has no `reference:` path; add one "
            "(e.g. reference: refs/line-1), or give --out"
        )
    return loaded.resolve(str(reference))


@inspect_app.command("learn")
def learn_command(
    config: ConfigArg,
    camera: Annotated[
        str, typer.Option("--camera", help="Camera name from the config.", show_default=False)
    ],
    good: GoodOpt,
    target_false_reject: Annotated[
        float,
        typer.Option(
            "--target-false-reject",
            help="Share of good items the threshold may reject (0.01 = 1 %).",
        ),
    ] = 0.01,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the reference here instead of the camera's inspection.reference."
        ),
    ] = None,
) -> None:
    """Learn CAMERA's defect reference from images of good items (a few dozen is good)."""
    destination = _reference_path(config, camera, out)
    # Imported here: numpy/OpenCV/onnxruntime are not needed for `onsight --help`.
    from onsight.inspection.reference import learn, load_images

    def progress(done: int, total: int) -> None:
        typer.echo(f"featurised {done}/{total} images", err=True)

    try:
        images = load_images(good)
        reference = learn(images, target_false_reject=target_false_reject, progress=progress)
        reference.save(destination)
    except OnsightError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the reference to {destination}: {exc.strerror or exc}")
    typer.echo(
        f"learned {destination} from {len(images)} good images: bank "
        f"{reference.bank.shape[0]} patches, threshold {reference.threshold:.4f}"
    )


@inspect_app.command("collect")
def collect_command(
    config: ConfigArg,
    camera: Annotated[
        str, typer.Option("--camera", help="Camera name from the config.", show_default=False)
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write item images to.", show_default=False)
    ],
    source: Annotated[
        str | None,
        typer.Option("--from", help="A recording to use instead of the camera's url."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Stop after this many.")] = 200,
) -> None:
    """Save the best image of each item passing CAMERA, as the app sees it, to learn a
    reference from: run it on a recording (or a live spell) of good items only."""
    loaded = load_config(config)
    cameras = {c.name: c for c in loaded.config.cameras}
    if camera not in cameras:
        fail(f"{config}: no camera named {camera!r}; cameras: {', '.join(cameras)}")
    chosen = cameras[camera]
    if chosen.inspection is None:
        fail(f"{config}: camera {camera!r} has no `inspection:` section (region, travel)")
    from onsight.apps.inspection import KIND, Inspector
    from onsight.detect import make_detector
    from onsight.events import EventBus
    from onsight.privacy.evidence import save_item_image
    from onsight.runtime import CameraPipeline

    # Only items are wanted: no reference to score them against, no barcodes to read.
    plain = chosen.model_copy(
        update={"inspection": chosen.inspection.model_copy(update={"reference": None}),
                "barcodes": None}
    )  # fmt: skip
    detector = loaded.config.detector
    bus = EventBus([])
    try:
        pipeline = CameraPipeline(
            plain,
            make_detector(detector.model, detector.backend, threads=detector.threads),
            bus,
            url=source,
        )
        inspector: Inspector = pipeline.running(KIND)[0]
        saved: list[Path] = []

        def keep(image: Image) -> None:
            if len(saved) >= limit:  # the end of the run may still hand out items
                return
            path = out / f"item-{len(saved) + 1:04d}.png"
            save_item_image(path, image)
            saved.append(path)
            typer.echo(f"item {len(saved)}: {path}", err=True)
            if len(saved) >= limit:
                pipeline.stop.set()

        inspector.on_item = keep
        pipeline.run()
    except OnsightError as exc:
        fail(str(exc), loaded.secrets)
    except OSError as exc:
        fail(f"cannot write to {out}: {exc.strerror or exc}")
    finally:
        bus.close()
    if not saved:
        fail(f"no items passed through camera {camera!r}'s region; check region and travel")
    typer.echo(f"saved {len(saved)} item images in {out}")


@inspect_app.command("evaluate")
def evaluate_command(
    reference: Annotated[
        Path,
        typer.Option("--reference", help="A reference made by `learn`.", show_default=False),
    ],
    good: GoodOpt,
    defect: Annotated[
        Path,
        typer.Option("--defect", help="Folder of images of defective items.", show_default=False),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score labelled good and defect images: AUROC, and the rates at the threshold."""
    from onsight.inspection.reference import Reference, evaluate, load_images

    try:
        loaded = Reference.load(reference)
        good_images = load_images(good)
        defect_images = load_images(defect)
        result = evaluate(loaded, good_images, defect_images)
    except OnsightError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    typer.echo(f"images: {len(good_images)} good, {len(defect_images)} defect")
    typer.echo(f"AUROC: {result.auroc:.3f}")
    typer.echo(f"threshold: {result.threshold:.4f}")
    typer.echo(f"false-reject rate: {result.false_reject_rate:.1%} (good items rejected)")
    typer.echo(f"miss rate: {result.miss_rate:.1%} (defects passed)")
