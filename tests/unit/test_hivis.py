"""Hi-vis from colour: EN ISO 20471 colour boxes, torso regions, synthetic vests painted on
real frames under several lights, the worker-zone clip as it is, and where colour fails."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from onsight.detect import make_detector
from onsight.ppe.hivis import (
    BACKGROUND_WARN_SHARE,
    HIVIS_COLOURS,
    WEARING_FRACTION,
    HivisJudge,
    WhiteBalance,
    background_share,
    estimate_white,
    hivis_pixels,
    torso_boxes,
)
from onsight.types import FloatArray, Image
from tests.conftest import assets_dir, require

PERSON = 0

# Frames used for the synthetic set: (clip, 0-based decode index).
SYNTHETIC_FRAMES = (
    ("vtest_480x360.avi", 100),  # seven pedestrians
    ("vtest_480x360.avi", 200),  # eight pedestrians in dark and light clothes
    ("vtest_480x360.avi", 265),  # eight pedestrians
    ("vtest_480x360.avi", 530),  # six pedestrians, one near the camera
    ("people-detection.gif", 0),  # one person by a door, orange wooden floor
    ("worker-zone-detection.gif", 23),  # the worker (his real vest is painted over: no vest)
    ("worker-zone-detection.gif", 60),
)

# Vest colours as a camera renders them (sRGB, so less saturated than the fabric itself):
# each lies in its EN ISO 20471 box. Stripes are retro-reflective silver.
VESTS: dict[str, tuple[int, int, int]] = {  # RGB
    "yellow": (205, 255, 40),
    "orange": (255, 90, 20),
    "red": (255, 40, 50),
}
NOT_A_VEST = (40, 50, 80)  # navy work jacket (RGB), painted over the worker's real vest
STRIPES = (200, 200, 195)
SODIUM_XY = (0.5752, 0.4242)  # chromaticity of 589 nm on the spectral locus


def _srgb_to_linear(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def _to_linear(image: Image) -> npt.NDArray[np.float64]:
    """BGR uint8 -> linear RGB float."""
    return _srgb_to_linear(image[..., ::-1].astype(np.float64) / 255.0)


def _to_image(linear: npt.NDArray[np.float64]) -> Image:
    return np.asarray(np.round(_linear_to_srgb(linear) * 255.0)[..., ::-1], np.uint8)


def _decode(name: str, indices: set[int]) -> dict[int, Image]:
    path = require(assets_dir() / "video" / name, f"sample video {name}")
    out: dict[int, Image] = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in indices:
                out[index] = np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)
            if index >= max(indices):
                break
    assert set(out) == indices, f"{name} is shorter than expected"
    return out


# --- synthetic vests ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """One real frame with its detected people, some of them wearing painted vests."""

    name: str
    image: Image
    boxes: FloatArray  # (N, 4) normalised xyxy of the people judged
    truth: npt.NDArray[np.bool_]  # wearing a painted vest
    colours: tuple[str, ...]  # vest colour per person ("" for none)


def _paint_vest(
    linear: npt.NDArray[np.float64],
    box: npt.NDArray[np.float64],
    rgb: tuple[int, int, int],
    rng: np.random.Generator,
    stripes: bool = True,
) -> None:
    """Paint a vest on the torso of the pixel box, in linear light: cylinder shading across
    the body, fold shading, fabric texture, a V neck and two reflective stripes."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    vx1, vx2 = int(x1 + 0.15 * w), int(np.ceil(x1 + 0.85 * w))
    vy1, vy2 = int(y1 + 0.20 * h), int(np.ceil(y1 + 0.62 * h))
    vy2, vx2 = min(vy2, linear.shape[0]), min(vx2, linear.shape[1])
    vh, vw = vy2 - vy1, vx2 - vx1
    u = (np.arange(vw) + 0.5) / vw
    cylinder = 0.72 + 0.28 * np.cos(np.pi * (u - 0.5))
    folds = cv2.GaussianBlur(rng.normal(0.0, 1.0, (vh, vw)), (0, 0), max(1.0, vw / 6))
    folds = 1.0 + 0.12 * folds / max(float(np.abs(folds).max()), 1e-6)
    texture = rng.normal(1.0, 0.05, (vh, vw))
    shade = np.clip(cylinder[None, :] * folds * texture, 0.0, 1.2)
    colour = _srgb_to_linear(np.asarray(rgb, np.float64) / 255.0)
    vest = shade[..., None] * colour
    rows = (np.arange(vh) + 0.5) / vh
    if stripes:
        silver = _srgb_to_linear(np.asarray(STRIPES, np.float64) / 255.0)
        for centre in (0.62, 0.85):
            band = np.abs(rows - centre) < max(0.045, 0.6 / vh)
            vest[band] = shade[band][..., None] * silver
    # V neck: the original pixels (shirt, skin) show through at the top centre.
    neck = np.abs(u[None, :] - 0.5) < 0.18 * (1.0 - rows[:, None] / 0.3)
    region = linear[vy1:vy2, vx1:vx2]
    region[~neck] = vest[~neck]


def _chroma_subsample(image: Image) -> Image:
    """4:2:0 colour as a camera stream carries it: chroma at half resolution."""
    ycc = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)
    h, w = image.shape[:2]
    for c in (1, 2):
        half = cv2.resize(ycc[..., c], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        ycc[..., c] = cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.asarray(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR), np.uint8)


def _isolated(boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """People whose painted-vest area overlaps no other person's box: with overlapping
    people the truth of a torso region is ambiguous."""
    keep = np.ones(len(boxes), np.bool_)
    for i, a in enumerate(boxes):
        w, h = a[2] - a[0], a[3] - a[1]
        torso = (a[0] + 0.15 * w, a[1] + 0.2 * h, a[0] + 0.85 * w, a[1] + 0.62 * h)
        for j, b in enumerate(boxes):
            if (
                i != j
                and min(torso[2], b[2]) > max(torso[0], b[0])
                and min(torso[3], b[3]) > max(torso[1], b[1])
            ):
                keep[i] = False
    return keep


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    """The synthetic set: people found by the bundled detector; every other one (and every
    worker) gets a vest, cycling yellow, orange, red; the rest are left as they are."""
    detector = make_detector()
    rng = np.random.default_rng(20471)
    wanted: dict[str, set[int]] = {}
    for name, index in SYNTHETIC_FRAMES:
        wanted.setdefault(name, set()).add(index)
    frames = {name: _decode(name, indices) for name, indices in wanted.items()}
    out: list[Scene] = []
    turn = 0
    for name, index in SYNTHETIC_FRAMES:
        image = frames[name][index]
        found = detector.detect(image)
        people = found.select(found.class_id == PERSON).xyxy.astype(np.float64)
        people = people[(people[:, 3] - people[:, 1]) >= 30]  # torso of at least 6 rows
        people = people[_isolated(people)]
        assert len(people), f"no person found in {name} frame {index}"
        linear = _to_linear(image)
        colours: list[str] = []
        worker = name.startswith("worker")
        for i, box in enumerate(people):
            if worker and index == 60:
                # The worker's own orange vest, painted over with a navy jacket.
                _paint_vest(linear, box, NOT_A_VEST, rng, stripes=False)
                colours.append("")
            elif i % 2 == 0 or worker:
                colour = list(VESTS)[turn % len(VESTS)]
                turn += 1
                _paint_vest(linear, box, VESTS[colour], rng)
                colours.append(colour)
            else:
                colours.append("")
        h, w = image.shape[:2]
        boxes = (people / np.array([w, h, w, h])).astype(np.float32)
        truth = np.array([c != "" for c in colours], np.bool_)
        out.append(Scene(name, _to_image(linear), boxes, truth, tuple(colours)))
    return out


# --- lighting -------------------------------------------------------------------------------


def _relight(
    image: Image, gains: tuple[float, float, float], scale: float, noise: float, seed: int
) -> Image:
    """The scene under another light: linear-RGB gains (a von Kries cast), exposure scale,
    then sensor noise (8-bit sigma) and 4:2:0 chroma."""
    linear = _to_linear(image) * np.asarray(gains) * scale
    out = _to_image(linear).astype(np.float64)
    if noise:
        out += np.random.default_rng(seed).normal(0.0, noise, out.shape)
    return _chroma_subsample(np.asarray(np.clip(np.round(out), 0, 255), np.uint8))


def _low_pressure_sodium(image: Image) -> Image:
    """Monochromatic 589 nm light: every surface keeps its luminance and loses its colour."""
    x, y = SODIUM_XY
    xyz = np.array([x / y, 1.0, (1 - x - y) / y])
    to_rgb = np.linalg.inv(
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    )
    lamp = np.clip(to_rgb @ xyz, 0.0, None)
    lamp /= lamp @ np.array([0.2126, 0.7152, 0.0722])  # unit luminance
    luminance = _to_linear(image) @ np.array([0.2126, 0.7152, 0.0722])
    return _chroma_subsample(_to_image(luminance[..., None] * lamp * 0.8))


# Lights under which the white balance must recover every decision.
LIGHTS: dict[str, Callable[[Image], Image]] = {
    "as_is": lambda im: _relight(im, (1.0, 1.0, 1.0), 1.0, 1.0, 1),
    "darker_2_stops": lambda im: _relight(im, (1.0, 1.0, 1.0), 0.25, 1.5, 2),
    # High-pressure sodium / warm-white lamp: a strong orange cast (about 2000-2200 K).
    "warm_sodium_cast": lambda im: _relight(im, (1.0, 0.72, 0.30), 0.9, 1.0, 3),
    # Overcast shade / cool-white LED: a blue cast.
    "cool_cast": lambda im: _relight(im, (0.72, 0.9, 1.0), 1.0, 1.0, 4),
}


def _judge(scene: Scene, image: Image) -> npt.NDArray[np.bool_]:
    result = HivisJudge().judge(image, scene.boxes)
    assert result.fraction.shape == (len(scene.boxes),)
    assert ((result.fraction >= 0) & (result.fraction <= 1)).all()
    return result.wearing


def accuracy(scenes: list[Scene], light: Callable[[Image], Image]) -> tuple[int, int]:
    """(people judged right, people) over the synthetic set under one light."""
    right = total = 0
    for scene in scenes:
        wearing = _judge(scene, light(scene.image))
        right += int((wearing == scene.truth).sum())
        total += len(scene.truth)
    return right, total


def test_synthetic_set_has_both_kinds(scenes: list[Scene]) -> None:
    truth = np.concatenate([s.truth for s in scenes])
    colours = {c for s in scenes for c in s.colours if c}
    assert colours == set(VESTS)
    assert truth.sum() >= 8 and (~truth).sum() >= 8, truth


@pytest.mark.parametrize("light", list(LIGHTS))
def test_painted_vests_found_exactly_under_light(scenes: list[Scene], light: str) -> None:
    """Every painted vest is found and nobody else, in daylight, two stops darker, under a
    warm (high-pressure sodium-like) and a cool cast: the scene white balance undoes them."""
    for scene in scenes:
        wearing = _judge(scene, LIGHTS[light](scene.image))
        np.testing.assert_array_equal(wearing, scene.truth, err_msg=f"{scene.name} {light}")


def test_without_white_balance_a_cool_cast_and_a_dark_scene_break_it(
    scenes: list[Scene],
) -> None:
    """Control: judged with a fixed neutral balance (white = sRGB white), a cool cast moves
    yellow vests out of their box and a darker scene drops them under the luminance floor:
    the scene's white balance and white level are what make the decisions hold."""
    neutral = WhiteBalance.neutral()
    for light in ("cool_cast", "darker_2_stops"):
        wrong = 0
        for scene in scenes:
            image = LIGHTS[light](scene.image)
            regions = torso_boxes(scene.boxes, image.shape[1], image.shape[0])
            for (x1, y1, x2, y2), truth in zip(regions, scene.truth, strict=True):
                fraction = float(hivis_pixels(image[y1:y2, x1:x2], neutral).mean())
                wrong += int((fraction >= WEARING_FRACTION) != truth)
        assert wrong >= 5, light


def _dusk(image: Image) -> Image:
    """Dusk: 9 stops under the exposure the frame was taken at, a slightly warm residual
    cast and sensor noise (sigma 4/255, which a camera's auto-gain would amplify as well)."""
    return _relight(image, (1.0, 0.9, 0.75), 2.0**-9, 4.0, 5)


def test_fails_at_dusk(scenes: list[Scene]) -> None:
    """Known failure: at dusk the vests' colour drowns in noise and 8-bit quantisation.
    Down to 6 stops under, every decision holds; 7 stops under, about half the vests are
    missed, 9 stops under all of them. The judge errs towards "not wearing": it never
    finds vests that are not there."""
    found = false = truth = 0
    for scene in scenes:
        wearing = _judge(scene, _dusk(scene.image))
        found += int(wearing[scene.truth].sum())
        false += int(wearing[~scene.truth].sum())
        truth += int(scene.truth.sum())
    assert false == 0
    assert found < 0.75 * truth, (found, truth)


def test_fails_under_low_pressure_sodium_light_and_warns(scenes: list[Scene]) -> None:
    """Known failure: low-pressure sodium light is one wavelength (589 nm). Every surface
    has the lamp's colour, which has no blue for a white balance to restore, so the whole
    scene looks orange-yellow: decisions are unreliable (bright torsos look like vests).
    `background_share` crosses the warning threshold in every scene, so `onsight check`
    warns about it."""
    right = total = 0
    for scene in scenes:
        image = _low_pressure_sodium(scene.image)
        assert background_share(image, scene.boxes) > BACKGROUND_WARN_SHARE, scene.name
        wearing = _judge(scene, image)
        right += int((wearing == scene.truth).sum())
        total += len(scene.truth)
    assert right < total


def test_fails_with_a_yellow_wall_and_warns(scenes: list[Scene]) -> None:
    """Known failure: a wall painted safety yellow behind the people. `background_share`
    crosses the warning threshold (so `onsight check` warns). A person whose torso region
    shows the wall (a box drawn loosely, a thin person seen side-on) may be judged wearing."""
    scene = next(s for s in scenes if s.name.startswith("vtest"))
    image = scene.image.copy()
    h, w = image.shape[:2]
    linear = _to_linear(image)
    wall = _srgb_to_linear(np.asarray((235, 225, 40), np.float64) / 255.0)
    top = int(0.45 * h)  # the upper part of the frame: buildings, parked vans
    shade = _to_linear(image)[:top] @ np.array([0.2126, 0.7152, 0.0722])
    painted_wall = (0.55 + 0.45 * shade / max(float(shade.max()), 1e-6))[..., None] * wall
    behind = np.ones((top, w), np.bool_)  # the wall is behind the people, not on them
    for x1, y1, x2, y2 in scene.boxes * np.array([w, h, w, h]):
        behind[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2))] = False
    linear[:top][behind] = painted_wall[behind]
    painted = _relight(_to_image(linear), (1.0, 1.0, 1.0), 1.0, 1.0, 6)
    assert background_share(scene.image, scene.boxes) < 0.02
    assert background_share(painted, scene.boxes) > BACKGROUND_WARN_SHARE
    result = HivisJudge().judge(painted, scene.boxes)
    # Torso regions are inside the boxes, so a wall beside a person does not leak into
    # them here; the painted vests are still found (a yellow-green wall also pulls the white
    # balance towards yellow, which is why the warning matters).
    np.testing.assert_array_equal(result.wearing, scene.truth)


# --- the worker-zone clip as it is ----------------------------------------------------------


@pytest.fixture(scope="module")
def worker_zone() -> Iterator[tuple[list[Image], list[FloatArray]]]:
    detector = make_detector()
    indices = set(range(0, 71, 5))
    frames = _decode("worker-zone-detection.gif", indices)
    images = [frames[i] for i in sorted(indices)]
    boxes: list[FloatArray] = []
    for image in images:
        found = detector.detect(image)
        h, w = image.shape[:2]
        people = found.select(found.class_id == PERSON).xyxy
        boxes.append((people / np.array([w, h, w, h], np.float32)).astype(np.float32))
    yield images, boxes


def test_worker_zone_worker_wears_hivis(
    worker_zone: tuple[list[Image], list[FloatArray]],
) -> None:
    """The truth, from looking at every frame: one worker walks away from the camera across a
    warehouse floor with red lines and a black-and-yellow tape; he wears a yellow hard hat
    and a fluorescent orange vest with two silver reflective stripes (and braces) over a
    grey-blue long-sleeved shirt and jeans, in every frame. Nobody else is in the scene."""
    images, boxes = worker_zone
    judge = HivisJudge(refresh_every=5)
    for image, frame_boxes in zip(images, boxes, strict=True):
        assert len(frame_boxes) == 1
        result = judge.judge(image, frame_boxes)
        assert result.wearing.all(), result.fraction
        assert background_share(image, frame_boxes) < BACKGROUND_WARN_SHARE


def test_vtest_red_top_is_close_to_the_threshold() -> None:
    """Known weakness: ordinary clothing in saturated red or orange. In vtest a woman in a
    bright red top (frames 470-690) reaches a fluorescent share of up to ~0.2: she is judged
    not wearing, but only just; only the luminance floor tells her top from fluorescent red."""
    detector = make_detector()
    image = _decode("vtest_480x360.avi", {490})[490]
    found = detector.detect(image)
    h, w = image.shape[:2]
    boxes = (found.select(found.class_id == PERSON).xyxy / np.array([w, h, w, h])).astype(
        np.float32
    )
    result = HivisJudge().judge(image, boxes)
    assert not result.wearing.any(), result.fraction
    assert 0.08 < float(result.fraction.max()) < WEARING_FRACTION


# --- units ----------------------------------------------------------------------------------


def test_standard_colours_and_neutral_greys() -> None:
    """Colours rendered at each box's centre chromaticity are fluorescent; greys, skin,
    denim, a bright white and dark versions of the vest colours are not."""
    to_rgb = np.linalg.inv(
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    )
    pixels = []
    for colour in HIVIS_COLOURS:
        x, y = np.mean(np.asarray(colour.corners), axis=0)
        rgb = np.clip(to_rgb @ np.array([x / y, 1.0, (1 - x - y) / y]), 0, None)
        rgb = rgb / rgb.max()  # as bright as the sRGB gamut allows
        pixels.append(_linear_to_srgb(rgb)[::-1] * 255)
    others = [(128, 128, 128), (250, 250, 250), (90, 120, 180), (120, 70, 40), (20, 20, 20)]
    bgr = np.asarray(pixels + [tuple(reversed(c)) for c in others], np.float64)
    dark = np.asarray(pixels, np.float64) * 0.25
    image = np.round(np.concatenate([bgr, dark])).astype(np.uint8)[None]
    balance = WhiteBalance(np.ones(3, np.float32), 1.0)
    hit = hivis_pixels(image, balance)[0]
    assert hit.tolist() == [True] * 3 + [False] * 5 + [False] * 3


def test_white_balance_recovers_a_cast() -> None:
    rng = np.random.default_rng(1)
    scene = rng.integers(30, 220, (60, 80, 3)).astype(np.uint8)
    cast = _relight(scene, (1.0, 0.7, 0.4), 1.0, 0.0, 0)
    g0 = estimate_white(scene).gains
    g1 = estimate_white(cast).gains
    # The cast's gains, relative to the plain scene's, undo the cast (B boosted most).
    ratio = g1 / g0
    assert ratio[2] > ratio[1] > ratio[0]


def test_torso_region_is_clipped_and_documented() -> None:
    boxes = np.array([[0.1, 0.0, 0.3, 1.0], [0.9, 0.5, 1.2, 1.5]], np.float32)
    regions = torso_boxes(boxes, 100, 200)
    assert regions[0].tolist() == [14, 40, 26, 120]
    x1, y1, x2, y2 = regions[1]
    assert x2 == 100 and y2 == 200 and x1 < x2 and y1 < y2
    image = np.zeros((200, 100, 3), np.uint8)
    result = HivisJudge().judge(image, np.zeros((0, 4), np.float32))
    assert result.wearing.shape == (0,)
    empty = HivisJudge().judge(image, np.array([[1.0, 1.0, 1.0, 1.0]], np.float32))
    assert empty.fraction.tolist() == [0.0] and not empty.wearing.any()


def test_background_share_ignores_people() -> None:
    image = np.full((100, 100, 3), 128, np.uint8)
    image[:, :30] = (20, 90, 255)  # BGR fluorescent orange-red on 30 % of the frame
    everyone = np.array([[0.0, 0.0, 0.3, 1.0]], np.float32)
    assert background_share(image, np.zeros((0, 4), np.float32)) == pytest.approx(0.3, abs=0.01)
    assert background_share(image, everyone) == pytest.approx(0.0, abs=0.01)


def test_judge_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="threshold"):
        HivisJudge(threshold=0.0)
    with pytest.raises(ValueError, match="refresh_every"):
        HivisJudge(refresh_every=0)
