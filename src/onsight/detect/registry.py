"""The models onsight knows: files, checksums, licences, sources and decoding settings.

Weights are never committed. They are looked up, in order, in an explicit directory,
``$ONSIGHT_MODELS``, ``$ONSIGHT_ASSETS/models`` and the user cache
(``$XDG_CACHE_HOME/onsight/models``, default ``~/.cache/onsight/models``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from onsight.errors import ModelError

DecoderName = Literal["yolox", "nanodet"]
BackendName = Literal["onnxruntime", "opencv"]
BACKENDS: tuple[BackendName, ...] = ("onnxruntime", "opencv")
DEFAULT_MODEL = "yolox_nano_416_coco"

_YOLOX_REPO = (
    "https://raw.githubusercontent.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/"
    "3d4f1119d0694200671c08069ecb847aa0d8495a"
)
_NANODET_REPO = (
    "https://raw.githubusercontent.com/Kazuhito00/NanoDet-ONNX-Sample/"
    "610a874a9163369f6432bf7360ae6c66fc605680"
)
_COCO_CLASSES = "coco_classes.txt"
_COCO_CLASSES_SHA256 = "634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One detector: its files (name -> sha256), where each comes from, and how to decode it."""

    name: str
    weights: str  # the .onnx file among `files`
    classes_file: str  # class names, one a line, in model index order; among `files`
    files: Mapping[str, str]  # file name -> sha256
    sources: Mapping[str, str]  # file name -> official download URL
    licence: str
    num_classes: int
    input_size: int  # square network input, pixels
    decoder: DecoderName
    score_threshold: float
    nms_iou: float
    backends: tuple[BackendName, ...] = BACKENDS
    # Fully convolutional (YOLOX): runs at any input size in multiples of 32, so each frame
    # gets a canvas of its own shape (`Letterbox` fit) on onnxruntime.
    fit_input: bool = False
    # A model built on this machine from another registered model (`onsight models build-int8`):
    # its weights are not in `files` (their bytes depend on the onnxruntime version) but are
    # checked against the JSON stamp written next to them (see `check_stamp`).
    built_from: str | None = None
    recipe: str | None = None  # how it was built (onsight.detect.quantize.RECIPES)


def _coco_model(
    name: str,
    weights_sha256: str,
    source: str,
    input_size: int,
    decoder: DecoderName,
    score_threshold: float,
    nms_iou: float,
) -> ModelSpec:
    weights = f"{name}.onnx"
    return ModelSpec(
        name=name,
        weights=weights,
        classes_file=_COCO_CLASSES,
        files=MappingProxyType({weights: weights_sha256, _COCO_CLASSES: _COCO_CLASSES_SHA256}),
        sources=MappingProxyType(
            {weights: source, _COCO_CLASSES: f"{_YOLOX_REPO}/{_COCO_CLASSES}"}
        ),
        licence="Apache-2.0",
        num_classes=80,
        input_size=input_size,
        decoder=decoder,
        score_threshold=score_threshold,
        nms_iou=nms_iou,
        fit_input=decoder == "yolox",
    )


MODELS: Mapping[str, ModelSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            _coco_model(
                "yolox_nano_416_coco",
                "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
                f"{_YOLOX_REPO}/model/yolox_nano.onnx",
                416,
                "yolox",
                # Low enough to give ByteTrack its low-score band (boxes it only uses to keep
                # existing tracks; a new track needs 0.45): golden lines, event F1 0.923 at 0.3
                # -> 0.931 at 0.2, aggregate count error 0.078 -> 0.049.
                0.2,
                0.45,
            ),
            _coco_model(
                "nanodet_m_416_coco",
                "08b62b9ee4a7878e7a64d6ef4faf3074322c033a0252c83a20f41b86c76e8146",
                f"{_NANODET_REPO}/model/nanodet_m_416.onnx",
                416,
                "nanodet",
                0.35,
                0.6,
            ),
            _coco_model(
                "nanodet_m_320_coco",
                "88e9fb97a54bb0030127ad323a10f88b4531b6aa82617e7ef79e35ffcc9bb3e1",
                f"{_NANODET_REPO}/model/nanodet_m_320.onnx",
                320,
                "nanodet",
                0.35,
                0.6,
            ),
        )
    }
)

INT8_SUFFIX = "_int8"
INT8_RECIPE = "qdq-u8s8-minmax-v1"
STAMP_SUFFIX = ".stamp.json"
_STAMP_FORMAT = 1


def _int8_model(source: ModelSpec, recipe: str) -> ModelSpec:
    """The int8 (static QDQ) build of `source`: same classes, input size, decoder, licence."""
    name = f"{source.name}{INT8_SUFFIX}"
    return ModelSpec(
        name=name,
        weights=f"{name}.onnx",
        classes_file=source.classes_file,
        files=MappingProxyType({source.classes_file: source.files[source.classes_file]}),
        sources=MappingProxyType({source.classes_file: source.sources[source.classes_file]}),
        licence=source.licence,
        num_classes=source.num_classes,
        input_size=source.input_size,
        decoder=source.decoder,
        score_threshold=source.score_threshold,
        nms_iou=source.nms_iou,
        backends=("onnxruntime",),  # QDQ int8 is onnxruntime's format
        fit_input=False,  # calibrated on the square input, and kept on it
        built_from=source.name,
        recipe=recipe,
    )


# Models built locally by `onsight models build-int8`. They load by name (make_detector,
# verify) but are not in MODELS, so configs cannot select them: the int8 build lost more
# than 0.01 event F1 on the labelled clips (issue 12, docs/models.md). Moving one into MODELS
# also needs tests/unit/test_detect.py to skip built models (their weights are not in assets).
BUILT_MODELS: Mapping[str, ModelSpec] = MappingProxyType(
    {
        f"{DEFAULT_MODEL}{INT8_SUFFIX}": _int8_model(MODELS[DEFAULT_MODEL], INT8_RECIPE),
    }
)


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """Where a model's files were found (all in one directory)."""

    spec: ModelSpec
    directory: Path

    @property
    def weights(self) -> Path:
        return self.directory / self.spec.weights

    @property
    def classes_file(self) -> Path:
        return self.directory / self.spec.classes_file

    def class_names(self) -> tuple[str, ...]:
        text = self.classes_file.read_text(encoding="utf-8")
        names = tuple(line.strip() for line in text.splitlines() if line.strip())
        if len(names) != self.spec.num_classes:
            raise ModelError(
                f"{self.classes_file}: expected {self.spec.num_classes} class names, "
                f"found {len(names)}"
            )
        return names


def get_spec(name: str | ModelSpec) -> ModelSpec:
    """The spec for `name`; an unknown name raises ModelError listing the valid ones."""
    if isinstance(name, ModelSpec):
        return name
    try:
        return MODELS[name] if name in MODELS else BUILT_MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}") from None


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/onsight/models``, or ``~/.cache/onsight/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "onsight" / "models"


def search_dirs(model_dir: Path | None = None) -> list[Path]:
    """Directories searched for model files, first match wins."""
    dirs: list[Path] = []
    if model_dir is not None:
        dirs.append(Path(model_dir))
    if env_models := os.environ.get("ONSIGHT_MODELS"):
        dirs.append(Path(env_models))
    if env_assets := os.environ.get("ONSIGHT_ASSETS"):
        dirs.append(Path(env_assets) / "models")
    dirs.append(user_cache_dir())
    return dirs


def locate(name: str | ModelSpec, model_dir: Path | None = None) -> ModelFiles:
    """Find the directory holding the model's weights; every file must be next to them.

    Raises ModelError naming the missing file and the directory to put it in.
    Does not check hashes (see `verify`).
    """
    spec = get_spec(name)
    dirs = search_dirs(model_dir)
    found = next((d for d in dirs if (d / spec.weights).is_file()), None)
    if found is None and spec.built_from is not None:
        raise ModelError(
            f"model file {spec.weights} not found (searched {', '.join(map(str, dirs))}); "
            f"build it with `onsight models build-int8 {spec.name}`"
        )
    if found is None:
        raise ModelError(
            f"model file {spec.weights} not found (searched {', '.join(map(str, dirs))}); "
            f"run `onsight models fetch {spec.name}` or place it in {dirs[0]}"
        )
    for filename in spec.files:
        if not (found / filename).is_file():
            raise ModelError(
                f"model file {filename} not found; place it in {found} next to {spec.weights}"
            )
    return ModelFiles(spec, found)


def find_checked(
    filename: str, sha256: str, what: str, origin: str, model_dir: Path | None = None
) -> Path:
    """A model file outside the detector registry (e.g. `what`="face model"), found in the
    usual folders and checked against its sha256; `origin` says where to get it."""
    dirs = search_dirs(model_dir)
    path = next((d / filename for d in dirs if (d / filename).is_file()), None)
    if path is None:
        raise ModelError(
            f"{what} {filename} not found (searched {', '.join(map(str, dirs))}); place it "
            f"in {dirs[0]} ({origin})"
        )
    if sha256_of(path) != sha256:
        raise ModelError(f"{what} {path} does not have the expected sha256 {sha256[:12]}…")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_hash(spec: ModelSpec, path: Path) -> None:
    expected = spec.files[path.name]
    actual = sha256_of(path)
    if actual != expected:
        raise ModelError(
            f"model file {path} has sha256 {actual[:12]}…, expected {expected[:12]}…; "
            f"delete it and run `onsight models fetch {spec.name}`"
        )


def verify(name: str | ModelSpec, model_dir: Path | None = None) -> ModelFiles:
    """Locate the model and check each file's sha256; ModelError if one is missing or differs."""
    files = locate(name, model_dir)
    for filename in files.spec.files:
        _check_hash(files.spec, files.directory / filename)
    if files.spec.built_from is not None:
        check_stamp(files)
    return files


def stamp_path(weights: Path) -> Path:
    """The build stamp next to built weights: `<name>.onnx` -> `<name>.stamp.json`."""
    return weights.with_suffix(STAMP_SUFFIX)


def runtime_version() -> str:
    """The installed onnxruntime's version, without importing it."""
    try:
        return importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def expected_stamp(spec: ModelSpec) -> dict[str, object]:
    """What a current build stamp of the built model `spec` must say (calibration aside)."""
    if spec.built_from is None:
        raise ModelError(f"model {spec.name} is not built locally")
    source = get_spec(spec.built_from)
    return {
        "format": _STAMP_FORMAT,
        "model": spec.name,
        "source": source.name,
        "source_sha256": source.files[source.weights],
        "recipe": spec.recipe,
        "onnxruntime": runtime_version(),
    }


def stamp_problem(files: ModelFiles) -> str | None:
    """Why the built model's stamp is missing, stale or does not match its weights; None if
    it is current. Does not hash the weights unless the rest of the stamp is current."""
    spec = files.spec
    path = stamp_path(files.weights)
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"its build stamp {path} is missing"
    except (OSError, ValueError) as exc:
        return f"its build stamp {path} is unreadable ({exc})"
    if not isinstance(stamp, dict):
        return f"its build stamp {path} is not a JSON object"
    for key, want in expected_stamp(spec).items():
        if stamp.get(key) != want:
            return f"it was built with {key} {stamp.get(key)!r}, now {want!r} (stamp {path})"
    if stamp.get("weights_sha256") != sha256_of(files.weights):
        return f"{files.weights} does not match the sha256 in its build stamp {path}"
    return None


def check_stamp(files: ModelFiles) -> None:
    """ModelError telling how to rebuild when the built model's stamp is not current."""
    problem = stamp_problem(files)
    if problem is not None:
        raise ModelError(
            f"model {files.spec.name} in {files.directory} is stale or incomplete: {problem}; "
            f"rebuild it with `onsight models build-int8 {files.spec.name}`"
        )


def write_stamp(files: ModelFiles, calibration: Mapping[str, object]) -> Path:
    """Record, next to freshly built weights, what they were built from (atomically)."""
    stamp = {
        **expected_stamp(files.spec),
        "calibration": dict(calibration),
        "weights_sha256": sha256_of(files.weights),
    }
    path = stamp_path(files.weights)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(stamp, out, indent=2, sort_keys=True)
        out.write("\n")
    Path(tmp_name).replace(path)
    return path


def fetch(name: str | ModelSpec, dest: Path | None = None, timeout: float = 60.0) -> ModelFiles:
    """Download the model's files from their official URLs into `dest` (default: user cache).

    Files already present with the right hash are kept. Each download goes to a temporary
    file that is renamed into place only after its hash matches.
    """
    spec = get_spec(name)
    if spec.built_from is not None:
        raise ModelError(
            f"model {spec.name} is built locally from {spec.built_from}, not downloaded; "
            f"run `onsight models build-int8 {spec.name}`"
        )
    target = Path(dest) if dest is not None else user_cache_dir()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create model directory {target}: {exc.strerror}") from None
    for filename, expected in spec.files.items():
        path = target / filename
        if path.is_file() and sha256_of(path) == expected:
            continue
        _download(spec, filename, target, timeout)
    return ModelFiles(spec, target)


def install(
    source: Path, wanted: Mapping[str, str], dest: Path | None = None
) -> tuple[list[str], list[str]]:
    """Copy each wanted file (name -> sha256) found in `source` with the right hash into `dest`
    (default: the user cache), with the licence texts beside them, so the installed `onsight`
    finds its models from any shell. Returns (installed or already there, missing from source).

    A file in `source` with the wrong hash is refused (ModelError), never copied.
    """
    target = Path(dest) if dest is not None else user_cache_dir()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create model directory {target}: {exc.strerror}") from None
    done, missing = [], []
    for filename, expected in wanted.items():
        origin, path = source / filename, target / filename
        if path.is_file() and sha256_of(path) == expected:
            done.append(filename)
        elif not origin.is_file():
            missing.append(filename)
        elif sha256_of(origin) != expected:
            raise ModelError(f"{origin} does not have the expected sha256 {expected[:12]}…")
        else:
            _copy_into(origin, target)
            done.append(filename)
    for licence in sorted(source.glob("LICENSE*")):
        _copy_into(licence, target)
    return done, missing


def _copy_into(origin: Path, target: Path) -> None:
    """Copy through a temporary file, renamed into place, so a crash leaves no half file."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{origin.name}.", suffix=".part", dir=target)
    os.close(fd)
    try:
        shutil.copyfile(origin, tmp_name)
        Path(tmp_name).replace(target / origin.name)
    except OSError as exc:
        raise ModelError(f"cannot copy {origin} into {target}: {exc.strerror}") from None
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def _download(spec: ModelSpec, filename: str, target: Path, timeout: float) -> None:
    url = spec.sources[filename]
    fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=target)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(_HASH_CHUNK):
                out.write(chunk)
        actual = sha256_of(tmp)
        if actual != spec.files[filename]:
            raise ModelError(
                f"download of {filename} from {url} has sha256 {actual[:12]}…, expected "
                f"{spec.files[filename][:12]}…; place a verified copy in {target} by hand"
            )
        tmp.replace(target / filename)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ModelError(
            f"could not download {filename} from {url} ({reason}); "
            f"place the file in {target} by hand"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
