"""`onsight ...`: check a config, run it, run the demo, manage models."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from onsight.cli_support import ConfigArg, ResetDamagedOption, interrupt, setup_logging
from onsight.cli_support import fail as _fail
from onsight.cli_support import load as _load
from onsight.detect.cli import models_app
from onsight.errors import OnsightError
from onsight.evaluate.cli import evaluate_command
from onsight.events.cli import backup_command
from onsight.fleet.cli import fleet_app
from onsight.ingest.urls import redact_text, redact_url
from onsight.inspection.cli import inspect_app
from onsight.privacy.cli import audit_app, notice_command
from onsight.service.cli import tokens_app, users_app
from onsight.service.serve import serve_command
from onsight.thermal.cli import thermal_app

if TYPE_CHECKING:
    from onsight.config import LoadedConfig
    from onsight.config.models import CameraConfig
    from onsight.privacy.redact import Redaction
    from onsight.runtime import CameraPipeline, FrameResult
    from onsight.thermal.station import ScreeningResult
    from onsight.types import Frame, Image

app = typer.Typer(
    help="onsight: privacy-preserving analytics for the cameras a site already has.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(models_app, name="models", help="List, verify and fetch detection models.")
app.add_typer(audit_app, name="audit", help="Verify and read the tamper-evident audit log.")
app.command("notice")(notice_command)
app.add_typer(thermal_app, name="thermal", help="Read radiometric files; evaluate screening.")
app.add_typer(inspect_app, name="inspect", help="Learn and evaluate defect references.")
app.command("serve")(serve_command)
app.command("evaluate")(evaluate_command)
app.command("backup")(backup_command)
app.add_typer(users_app, name="users", help="Create, list and remove dashboard users.")
app.add_typer(tokens_app, name="tokens", help="Create, list and revoke API tokens.")
app.add_typer(fleet_app, name="fleet", help="Many sites into one PostgreSQL over MQTT.")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

CameraOpt = Annotated[str, typer.Option("--camera", help="Camera name from the config.")]
ImageOut = Annotated[Path, typer.Option("--out", help="Output image (.jpg or .png).")]
AtOpt = Annotated[
    float, typer.Option("--at", help="Seconds into a file; for a live camera, wait this long.")
]


@app.command()
def check(config: ConfigArg) -> None:
    """Validate CONFIG and the models it needs; print what would run."""
    loaded = _load(config)
    from onsight.detect import MODELS
    from onsight.detect.registry import locate
    from onsight.runtime.pipeline import wanted_class_ids

    model = loaded.config.detector.model
    if model not in MODELS:
        _fail(f"{config}: detector.model: unknown model {model!r}; known: {', '.join(MODELS)}")
    try:
        class_names = locate(model).class_names()
        for camera in loaded.config.cameras:
            wanted_class_ids(camera, class_names)
            _check_files(camera)
            _check_reference(loaded, camera)
        user_models = _check_user_models(loaded)
    except OnsightError as exc:
        _fail(f"{config}: {exc}", loaded.secrets)
    out.print(
        f"[green]ok[/green] {config}: {len(loaded.config.cameras)} camera(s), "
        f"database {loaded.database_path}",
        highlight=False,
    )
    for line in user_models:
        out.print(line, highlight=False)
    from onsight.apps.registry import kinds

    for camera in loaded.config.cameras:
        # One count per configured section: "2 line(s), 1 queue(s)"; nothing when none.
        counts = {k.noun or k.name: len(k.items(camera)) for k in kinds() if k.shape is not None}
        singles = [k.section for k in kinds() if k.single and k.items(camera)]
        if camera.barcodes is not None:
            singles.append(f"barcodes ({', '.join(camera.barcodes.formats)})")
        items = ", ".join(
            [f"{n} {noun}(s)" for noun, n in counts.items() if n] + singles
        ) or "no apps"
        out.print(
            f"  {camera.name}: {redact_url(camera.url)} at {camera.fps:g} fps, purpose "
            f"{camera.purpose}, {items}",
            highlight=False,
        )
        _check_stills(camera)
        try:
            _check_hivis_scene(loaded, camera)
        except OnsightError as exc:
            _fail(f"{config}: {exc}", loaded.secrets)
        if camera.calibration is not None:
            errors = camera.calibration.errors_m()
            out.print(
                f"    calibration: {len(errors)} points, fit error per point (m): "
                + ", ".join(f"{e:.2f}" for e in errors)
                + f" (max {max(errors):.2f})",
                highlight=False,
            )


def _check_user_models(loaded: LoadedConfig) -> list[str]:
    """Each model of the config's `models:` list passes its checks (file, sha256, shapes);
    one line per model to print."""
    if not loaded.config.models:
        return []
    from onsight.detect.user_models import load_user_model

    return [
        f"  model {m.name}: ok, {load_user_model(m, loaded.base_dir).describe()}"
        for m in loaded.config.models
    ]


def _check_stills(camera: CameraConfig) -> None:
    """Say what a still camera reads, and that it counts sightings."""
    if not camera.takes_stills():
        return
    from onsight.ingest.stills import describe_still

    what = describe_still(camera.detect_url or camera.url, camera.snapshot)
    source = f"{what} at {camera.fps:g} fps" if what else f"{camera.fps:g} fps"
    out.print(
        f"    stills: {source}; each frame is analysed on its own (no tracking), so figures "
        "count sightings, not people",
        highlight=False,
    )



def _check_hivis_scene(loaded: LoadedConfig, camera: CameraConfig) -> None:
    """A camera checking hi-vis: look at one frame, and warn when the scene itself (outside
    the people in it) is largely hi-vis-coloured: yellow walls, sodium light."""
    if camera.ppe is None or not camera.ppe.hivis:
        return
    import numpy as np

    from onsight.detect import make_detector
    from onsight.ingest.probe import probe
    from onsight.ppe.hivis import BACKGROUND_WARN_SHARE, background_share

    ca_file = loaded.with_paths(camera).ca_file  # relative to the config file
    found = probe(camera.name, camera.detect_url or camera.url, camera.fps, camera.width,
                  snapshot=camera.snapshot, ca_file=ca_file)  # fmt: skip
    if found.frame is None:
        out.print(f"    hi-vis: could not look at the scene ({found.reason})", highlight=False)
        return
    image = found.frame.image
    detector = make_detector(loaded.config.detector.model, loaded.config.detector.backend)
    detections = detector.detect(image)
    person = [i for i, name in enumerate(detector.class_names) if name in camera.ppe.classes]
    height, width = image.shape[:2]
    scale = np.array([width, height, width, height])
    people = detections.xyxy[np.isin(detections.class_id, person)] / scale
    share = background_share(image, people.astype(np.float32))
    if share > BACKGROUND_WARN_SHARE:
        err.print(
            f"warning: camera {camera.name!r}: {share:.0%} of the scene outside people is "
            "hi-vis-coloured (a yellow or orange wall, sodium light?): hi-vis readings there "
            "are unreliable; see docs/ppe.md",
            markup=False,
            highlight=False,
        )
    else:
        out.print(f"    hi-vis: {share:.1%} of the scene is hi-vis-coloured", highlight=False)


def _check_files(camera: CameraConfig) -> None:
    """A camera whose source is a file needs that file (a live source is tried by `run`); a
    folder of images needs images."""
    from onsight.ingest.stills import describe_still
    from onsight.ingest.urls import classify

    for field, url in (("url", camera.url), ("detect_url", camera.detect_url)):
        if url is None or classify(url) != "file":
            continue
        path = Path(url.removeprefix("file://"))
        if path.is_dir():
            try:
                describe_still(url)
            except OnsightError as exc:
                raise OnsightError(f"camera {camera.name!r}: {field}: {exc}") from None
            continue
        if not path.is_file():
            raise OnsightError(
                f"camera {camera.name!r}: {field}: no such file {redact_url(url)} "
                f"(relative paths are from the folder onsight runs in: {Path.cwd()})"
            )


def _check_reference(loaded: LoadedConfig, camera: CameraConfig) -> None:
    """An inspection camera's defect reference must load (the backbone model too)."""
    if camera.inspection is None or camera.inspection.reference is None:
        return
    from onsight.inspection.reference import Reference

    path = loaded.resolve(camera.inspection.reference)
    try:
        reference = Reference.load(path)
    except OnsightError as exc:
        raise OnsightError(f"camera {camera.name!r}: inspection.reference: {exc}") from None
    out.print(
        f"  {camera.name}: defect reference {path}, threshold {reference.threshold:.4f}",
        highlight=False,
    )


@app.command()
def run(
    config: ConfigArg,
    summary: Annotated[
        Path | None,
        typer.Option(
            help="Write per-camera counts as JSON here when done, with an `errors` map of the "
            "cameras that failed (written then too; the exit code is still 1)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log reconnects etc.")] = False,
    start_time: Annotated[
        str | None,
        typer.Option(
            "--start-time",
            help="When a recording started, e.g. 2024-05-01T08:00:00Z: events from files are "
            "stamped with this time plus their position in the file (default: now). Live "
            "cameras always use the clock.",
        ),
    ] = None,
    reset_damaged_store: ResetDamagedOption = False,
) -> None:
    """Run every camera of CONFIG; files run to their end, live cameras until Ctrl-C."""
    setup_logging(verbose)
    loaded = _load(config)
    result = _run(
        loaded, start_time=_parse_start_time(start_time), reset_damaged=reset_damaged_store
    )
    if summary is not None:
        try:
            summary.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            _fail(f"--summary {summary}: cannot write it: {exc.strerror or exc}")
    if result["errors"]:  # failed cameras were named above, and are in the summary
        raise typer.Exit(1)


def _parse_start_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--start-time {text!r}: not an ISO-8601 time; e.g. 2024-05-01T08:00:00Z")
    if moment.tzinfo is None:
        _fail(f"--start-time {text!r}: give the time zone, e.g. 2024-05-01T08:00:00Z or +02:00")
    return moment.astimezone(UTC)


def _run(
    loaded: LoadedConfig,
    on_frame: Callable[[CameraPipeline, FrameResult], None] | None = None,
    start_time: datetime | None = None,
    reset_damaged: bool = False,
) -> dict[str, object]:
    from onsight.events.databases import check_databases, config_databases
    from onsight.progress import Progress
    from onsight.runtime import Runner

    try:
        files = config_databases(loaded, users=False)  # `run` has no dashboard users
        for line in check_databases(files, reset=reset_damaged):
            err.print(f"warning: {line}", markup=False, highlight=False)
        runner = Runner(
            loaded, on_frame=on_frame, on_screening=_station_display, start_time=start_time
        )
    except OnsightError as exc:
        _fail(str(exc), loaded.secrets)
    # A service manager stops us with SIGTERM: shut down as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, interrupt)
    try:
        with Progress(runner.pipelines, runner.errors, err) as progress:
            runner.start()
            try:
                runner.wait(poll=progress.update)
            except KeyboardInterrupt:
                err.print("stopping (events recorded so far are kept)...")
                runner.stop()
    finally:
        runner.close()
    # One line per failed camera (Text, not markup: paths may hold brackets). The caller
    # exits non-zero when the summary's `errors` map is not empty.
    for message in runner.errors.values():
        err.print(Text("error: ", style="red") + Text(redact_text(message, loaded.secrets)))
    return runner.summary()


@app.command()
def snapshot(
    config: ConfigArg,
    camera: CameraOpt,
    out_file: ImageOut,
    at: AtOpt = 0.0,
) -> None:
    """Write one redacted frame of a camera at its resolution (its configured redaction mode)."""
    loaded, chosen = _camera_and_image(config, camera, out_file)
    frame, redaction = _redacted_frame(loaded, chosen, out_file, at)
    width, height = frame.width, frame.height
    if redaction.fail_closed:
        err.print(f"[yellow]warning:[/yellow] whole frame pixelated: {redaction.reason}")
    out.print(
        f"{out_file}: {width}x{height} at {frame.pts:.2f} s, redaction {redaction.mode}, "
        f"{len(redaction.regions)} region(s) blurred",
        highlight=False,
    )


@app.command()
def calibrate(
    config: ConfigArg,
    camera: CameraOpt,
    out_file: ImageOut,
    at: AtOpt = 0.0,
    step: Annotated[float, typer.Option("--step", help="Grid spacing in metres.")] = 1.0,
) -> None:
    """Draw CAMERA's calibration as a metre grid over a redacted snapshot, and print how far
    the fit puts each calibration point from where it was measured."""
    loaded, chosen = _camera_and_image(config, camera, out_file)
    calibration = chosen.calibration
    if calibration is None:
        _fail(f"{config}: camera {camera!r} has no `calibration:`; see docs/calibration.md")
    if not 0.05 <= step <= 100:
        _fail("--step: give the grid spacing in metres, between 0.05 and 100")
    from onsight.calibrate import draw_grid

    def grid(image: Image) -> None:
        draw_grid(image, calibration, step)

    _redacted_frame(loaded, chosen, out_file, at, grid)
    errors = calibration.errors_m()
    out.print(
        f"{out_file}: a {step:g} m grid over camera {camera}; fit error per point (m): "
        + ", ".join(f"{e:.2f}" for e in errors)
        + f" (max {max(errors):.2f})",
        highlight=False,
    )


def _camera_and_image(
    config: Path, camera: str, out_file: Path
) -> tuple[LoadedConfig, CameraConfig]:
    """The loaded config and the named camera, for a command that writes an image."""
    setup_logging(False)
    loaded = _load(config)
    cameras = {c.name: c for c in loaded.config.cameras}
    if camera not in cameras:
        _fail(f"{config}: no camera named {camera!r}; cameras: {', '.join(cameras)}")
    if out_file.suffix.lower() not in (".jpg", ".jpeg", ".png"):
        _fail(f"{out_file}: the image must be a .jpg or .png file")
    return loaded, cameras[camera]


def _redacted_frame(
    loaded: LoadedConfig,
    chosen: CameraConfig,
    out_file: Path,
    at: float,
    overlay: Callable[[Image], None] | None = None,
) -> tuple[Frame, Redaction]:
    """One frame of the camera, redacted, written to `out_file` (with `overlay` drawn on a
    copy) and audited as an image view."""
    from onsight.ingest.snapshot import grab_frame
    from onsight.privacy import ModelFinders, save_redacted
    from onsight.privacy.audit import AuditLog
    from onsight.privacy.redact import redact

    try:
        ca_file = loaded.with_paths(chosen).ca_file  # relative to the config file
        frame = grab_frame(chosen.name, chosen.url, at, snapshot=chosen.snapshot, ca_file=ca_file)
        redaction = redact(frame.image, chosen, ModelFinders(loaded.config.detector))
        save_redacted(out_file, redaction, overlay)
        with AuditLog(loaded.resolve(loaded.config.privacy.audit_log)) as audit:
            audit.append(
                "image_view",
                what="snapshot",
                camera=chosen.name,
                redaction=redaction.mode,
                fail_closed=redaction.fail_closed,
                out=str(out_file.resolve()),
            )
    except (OnsightError, OSError) as exc:
        _fail(str(exc), loaded.secrets)
    return frame, redaction


def _station_display(camera: str, result: ScreeningResult) -> None:
    """The local screening display: state changes only, never a temperature (rule 9)."""
    style = "bold red" if result.alert else "green" if result.screened else "dim"
    err.print(f"[{style}]{camera}: {result.message}[/{style}]", highlight=False)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the demo writes its files.")] = Path(
        "onsight-demo"
    ),
) -> None:
    """Count people on the bundled sample clip and write a redacted preview image."""
    setup_logging(False)
    assets = _assets_dir()
    os.environ.setdefault("ONSIGHT_ASSETS", str(assets))  # models are found there too
    video = assets / "video" / "vtest_480x360.avi"
    if not video.is_file():
        _fail(f"demo clip not found: {video} (set ONSIGHT_ASSETS to the shared assets folder)")
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "demo.yaml"
    text = resources.files("onsight.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    config_path.write_text(text + _demo_calibration(assets), encoding="utf-8")
    from onsight.config import load_config

    try:
        loaded = load_config(config_path, {**os.environ, "ONSIGHT_DEMO_VIDEO": str(video)})
    except OnsightError as exc:
        _fail(str(exc))

    from onsight.demo.preview import PreviewPicker

    picker = PreviewPicker()
    result = _run(loaded, on_frame=picker)
    if result["errors"]:
        raise typer.Exit(1)
    cameras = result["cameras"]
    assert isinstance(cameras, dict)
    table = Table(title=f"onsight demo: {video.name}")
    for column in ("camera", "frames", "what", "in", "out", "peak", "mean"):
        table.add_column(column)
    for name, camera in cameras.items():
        for line, c in camera["lines"].items():
            table.add_row(
                name, str(camera["frames"]), f"line {line}", str(c["in"]), str(c["out"]), "", ""
            )
        for zone, z in camera["zones"].items():
            table.add_row(name, "", f"zone {zone}", "", "", str(z["peak"]), f"{z['mean']:.2f}")
    out.print(table)
    for name, camera in cameras.items():
        distancing, speed = camera.get("distancing"), camera.get("speed")
        if isinstance(distancing, dict) and distancing.get("close_share") is not None:
            out.print(
                f"{name}: people were within 2 m of someone {distancing['close_share']:.0%} "
                "of the time (ground-plane calibration from the shared assets)"
            )
        if isinstance(speed, dict) and speed.get("median_mps") is not None:
            out.print(f"{name}: median walking speed {speed['median_mps']:.2f} m/s")
    (out_dir / "summary.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    from onsight.privacy import ModelFinders

    preview = picker.save(out_dir / "preview.jpg", ModelFinders(loaded.config.detector))
    out.print(
        f"config: {config_path}\nevents: {loaded.database_path}\n"
        f"summary: {out_dir / 'summary.json'}"
    )
    if preview is not None:
        out.print(f"preview (people blurred): {preview}")


def _demo_calibration(assets: Path) -> str:
    """YAML lines adding the clip's real ground-plane calibration, distancing and walking
    speed to the demo camera, when the shared assets have the calibration. (It is derived
    from PETS2009 data: read from the assets at run time, never shipped with onsight.)"""
    path = assets / "calibration" / "pets09_view001_homography.json"
    try:
        points = json.loads(path.read_text(encoding="utf-8"))["correspondences"]
        image = [[p["px_480x360"][0] / 480, p["px_480x360"][1] / 360] for p in points]
        ground = [p["ground_m"] for p in points]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    calibration = json.dumps({"image": image, "ground": ground})
    return (
        f"    calibration: {calibration}\n"
        "    distancing: {threshold_m: 2.0}\n"
        "    speed: {}\n"
    )


def _assets_dir() -> Path:
    env = os.environ.get("ONSIGHT_ASSETS")
    if env:
        return Path(env)
    for base in (Path.cwd(), *Path.cwd().parents):
        candidate = base / "shared" / "assets"
        if candidate.is_dir():
            return candidate
        candidate = base.parent / "shared" / "assets"
        if candidate.is_dir():
            return candidate
    return Path("../shared/assets")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
