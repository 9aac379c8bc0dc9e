"""Defect reference (PatchCore-style): synthetic textures with painted defects, the
threshold and coreset rules, the file format's failure modes, and the real BSData
ball-screw images (CC BY-SA, read from ONSIGHT_ASSETS at run time, never copied)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from onsight.errors import OnsightError
from onsight.inspection.reference import (
    WEIGHTS,
    InspectionError,
    Reference,
    ReferenceNotFound,
    auroc,
    coreset,
    evaluate,
    learn,
    load_images,
    overlay,
    threshold_from_scores,
)
from onsight.types import Image
from tests.conftest import assets_dir, require

BSDATA = "inspection/bsdata_ballscrew"
DEFECT_BOX = (300, 120, 360, 160)  # x1, y1, x2, y2 of the painted defect in a 480x240 image


@pytest.fixture(scope="module")
def model_dir() -> Path:
    require(assets_dir() / "models" / WEIGHTS, "inspection backbone")
    return assets_dir() / "models"


def _texture(seed: int, height: int = 240, width: int = 480) -> Image:
    """A woven-looking surface: two gratings, a slight random shift, grain noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = rng.uniform(-2, 2, size=2)
    base = 128 + 40 * np.sin((x + dx) / 3.0) * np.sin((y + dy) / 3.0)
    base += 15 * np.sin((x + y + dx) / 7.0) + rng.normal(0, 6, size=(height, width))
    grey = np.clip(base, 0, 255).astype(np.uint8)
    tint = np.stack([grey, (grey * 0.9).astype(np.uint8), (grey * 0.8).astype(np.uint8)], -1)
    return np.ascontiguousarray(tint)


def _with_defect(image: Image) -> Image:
    """A dark pit with a bright scratch through it, inside DEFECT_BOX."""
    out = image.copy()
    x1, y1, x2, y2 = DEFECT_BOX
    cv2.ellipse(out, ((x1 + x2) // 2, (y1 + y2) // 2), (22, 14), 20, 0, 360, (20, 25, 30), -1)
    cv2.line(out, (x1, y1 + 5), (x2, y2 - 5), (250, 250, 250), 3)
    return out


@pytest.fixture(scope="module")
def synthetic(model_dir: Path) -> Reference:
    return learn([_texture(seed) for seed in range(6)], model_dir=model_dir)


def test_a_painted_defect_scores_above_the_threshold_and_the_heatmap_peaks_on_it(
    synthetic: Reference,
) -> None:
    good = [synthetic.score(_texture(seed)) for seed in (100, 101, 102)]
    bad = synthetic.score(_with_defect(_texture(103)))
    assert all(s.score <= synthetic.threshold for s in good), [s.score for s in good]
    assert bad.score > synthetic.threshold > 0
    assert bad.score > 1.5 * max(s.score for s in good)
    assert bad.heatmap.shape == (240, 480) and bad.heatmap.dtype == np.float32
    y, x = np.unravel_index(int(np.argmax(bad.heatmap)), bad.heatmap.shape)
    x1, y1, x2, y2 = DEFECT_BOX
    assert x1 - 16 <= x <= x2 + 16 and y1 - 16 <= y <= y2 + 16, (x, y)
    # the reference remembers how it was learned
    assert synthetic.info["images"] == 6 and len(synthetic.info["held_out_scores"]) == 6
    assert synthetic.bank.shape == (np.ceil(6 * 2704 * 0.1), 348)


def test_evaluate_rates_are_at_the_threshold(synthetic: Reference) -> None:
    good = [_texture(seed) for seed in (200, 201)]
    defect = [_with_defect(_texture(seed)) for seed in (202, 203)]
    result = evaluate(synthetic, good, defect)
    assert result.auroc == 1.0
    assert (result.false_reject_rate, result.miss_rate) == (0.0, 0.0)
    assert result.threshold == synthetic.threshold
    assert set(result.as_json()) == {"auroc", "false_reject_rate", "miss_rate", "threshold"}
    with pytest.raises(InspectionError, match="at least one good and one defect"):
        evaluate(synthetic, good, [])


def test_overlay_is_a_same_size_colour_image_outlining_what_is_above_threshold(
    synthetic: Reference,
) -> None:
    image = _with_defect(_texture(300))
    scored = synthetic.score(image)
    shown = overlay(image, scored.heatmap, synthetic.threshold)
    assert shown.shape == image.shape and shown.dtype == np.uint8
    assert not np.array_equal(shown, image)
    ok, _ = cv2.imencode(".jpg", shown)
    assert ok
    with pytest.raises(InspectionError, match="does not match"):
        overlay(image, scored.heatmap[:10], synthetic.threshold)


def test_save_and_load_give_identical_scores(
    synthetic: Reference, model_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "refs" / "line-1"
    synthetic.save(path)
    meta = json.loads((path / "reference.json").read_text(encoding="utf-8"))
    assert meta["version"] == 1 and meta["threshold"] == synthetic.threshold
    assert meta["features"]["sha256"].startswith("6f0352f4")
    assert meta["bank"] == {"patches": synthetic.bank.shape[0], "dims": 348}
    assert meta["images"] == 6
    loaded = Reference.load(path, model_dir)
    assert loaded.threshold == synthetic.threshold
    assert loaded.target_false_reject == synthetic.target_false_reject == 0.01
    np.testing.assert_array_equal(loaded.bank, synthetic.bank)
    image = _with_defect(_texture(400))
    a, b = synthetic.score(image), loaded.score(image)
    assert a.score == b.score
    np.testing.assert_array_equal(a.heatmap, b.heatmap)
    synthetic.save(path)  # saving over a reference replaces it
    assert Reference.load(path, model_dir).threshold == synthetic.threshold


def _corrupt(path: Path, how: str) -> None:
    meta_file, bank_file = path / "reference.json", path / "bank.npy"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if how == "json":
        meta_file.write_text("{not json", encoding="utf-8")
    elif how == "no-json":
        meta_file.unlink()
    elif how == "format":
        meta_file.write_text(json.dumps({"hello": 1}), encoding="utf-8")
    elif how == "version":
        meta_file.write_text(json.dumps({**meta, "version": 99}), encoding="utf-8")
    elif how == "features":
        features = {**meta["features"], "pool": 5}
        meta_file.write_text(json.dumps({**meta, "features": features}), encoding="utf-8")
    elif how == "threshold":
        meta_file.write_text(json.dumps({**meta, "threshold": "high"}), encoding="utf-8")
    elif how == "truncated-bank":
        bank_file.write_bytes(bank_file.read_bytes()[:1000])
    elif how == "no-bank":
        bank_file.unlink()
    elif how == "bank-shape":
        np.save(bank_file, np.zeros((10, 7), np.float32))
    elif how == "bank-count":
        np.save(bank_file, np.zeros((10, 348), np.float32))
    elif how == "bank-nan":
        bank = np.load(bank_file)
        bank[0, 0] = np.nan
        np.save(bank_file, bank)
    elif how == "pickle":
        np.save(bank_file, np.array([{"a": 1}], dtype=object), allow_pickle=True)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("json", "reference.json"),
        ("no-json", "reference.json is missing"),
        ("format", "not an onsight inspection reference"),
        ("version", "version 99"),
        ("features", "other feature settings"),
        ("threshold", "threshold is not a number"),
        ("truncated-bank", "bank.npy"),
        ("no-bank", "bank.npy is missing"),
        ("bank-shape", r"\(10, 7\)"),
        ("bank-count", "has 10 patches"),
        ("bank-nan", "non-finite"),
        ("pickle", "bank.npy"),
    ],
)
def test_a_corrupt_reference_is_one_clear_error(
    synthetic: Reference, model_dir: Path, tmp_path: Path, how: str, message: str
) -> None:
    path = tmp_path / "ref"
    synthetic.save(path)
    _corrupt(path, how)
    with pytest.raises(InspectionError, match=message) as caught:
        Reference.load(path, model_dir)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_reference_or_a_file_in_its_place_is_a_clear_error(
    model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ReferenceNotFound, match="no defect reference at") as caught:
        Reference.load(tmp_path / "nowhere", model_dir)
    # the inspection app maps a missing reference to its config error this way
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, OnsightError)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    with pytest.raises(InspectionError, match="expected a directory"):
        Reference.load(photo, model_dir)


def test_coreset_is_deterministic_spreads_out_and_reduces_the_bank() -> None:
    rng = np.random.default_rng(7)
    features = rng.normal(0, 1, size=(3000, 348)).astype(np.float32)
    features[1234] += 50.0  # an outlier: k-centre must pick it early
    chosen = coreset(features, 300)
    assert chosen.shape == (300,) and len(set(chosen.tolist())) == 300
    np.testing.assert_array_equal(chosen, coreset(features, 300))
    assert 1234 in chosen[:2].tolist()
    assert not np.array_equal(chosen, coreset(features, 300, seed=1))
    np.testing.assert_array_equal(coreset(features, 5000), np.arange(3000))
    # two tight clusters: the first two picks are one from each
    clusters = np.concatenate([rng.normal(0, 0.01, (50, 8)), rng.normal(9, 0.01, (50, 8))])
    picks = coreset(clusters.astype(np.float32), 2)
    assert {int(p) // 50 for p in picks} == {0, 1}


@pytest.mark.parametrize(
    ("scores", "target", "expected"),
    [
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.1, 9.1 * 1.05),  # 0.9 quantile, interpolated
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.01, 9.91 * 1.05),
        ([3, 1, 2], 0.25, 2.5 * 1.05),  # order does not matter
        ([0.5], 0.01, 0.5 * 1.05),
        ([4, 4, 4, 4], 0.05, 4 * 1.05),
    ],
)
def test_threshold_is_the_interpolated_quantile_plus_a_five_percent_margin(
    scores: Sequence[float], target: float, expected: float
) -> None:
    assert threshold_from_scores(scores, target) == pytest.approx(expected)


def test_threshold_and_learn_reject_bad_settings(model_dir: Path) -> None:
    with pytest.raises(InspectionError, match="no held-out scores"):
        threshold_from_scores([], 0.01)
    for target in (0.0, 0.5, -1.0, 2.0):
        with pytest.raises(InspectionError, match="target false-reject rate"):
            threshold_from_scores([1.0], target)
    with pytest.raises(InspectionError, match="at least 3 good images"):
        learn([_texture(0), _texture(1)], model_dir=model_dir)
    with pytest.raises(InspectionError, match="BGR uint8"):
        learn([np.zeros((10, 10), np.uint8)] * 3, model_dir=model_dir)


def test_learning_twice_gives_the_same_reference_and_reports_progress(model_dir: Path) -> None:
    images = [_texture(seed, 96, 160) for seed in range(3)]
    seen: list[tuple[int, int]] = []
    first = learn(images, model_dir=model_dir, progress=lambda d, t: seen.append((d, t)))
    second = learn(images, model_dir=model_dir, coreset_fraction=0.1)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert first.threshold == second.threshold
    np.testing.assert_array_equal(first.bank, second.bank)
    assert first.info["folds"] == 3


def test_auroc_counts_ties_as_half() -> None:
    assert auroc([1, 2], [3, 4]) == 1.0
    assert auroc([3, 4], [1, 2]) == 0.0
    assert auroc([1, 2], [2, 3]) == pytest.approx(0.875)
    with pytest.raises(InspectionError):
        auroc([], [1.0])


def test_load_images_reads_in_name_order_and_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(InspectionError, match="no such directory"):
        load_images(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(InspectionError, match="is not a directory"):
        load_images(tmp_path / "notes.txt")
    with pytest.raises(InspectionError, match=r"no images \(.jpg"):
        load_images(tmp_path)
    for name, value in (("b.png", 20), ("a.JPG", 10), ("c.bmp", 30), ("d.webp", 40)):
        ok, data = cv2.imencode(Path(name).suffix.lower(), np.full((8, 8, 3), value, np.uint8))
        assert ok
        (tmp_path / name).write_bytes(data.tobytes())
    images = load_images(tmp_path)
    assert [int(np.median(i)) for i in images] == [10, 20, 30, 40]
    assert all(i.shape == (8, 8, 3) and i.dtype == np.uint8 for i in images)
    (tmp_path / "e.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(InspectionError, match=r"cannot decode image .*e\.jpg"):
        load_images(tmp_path)


# --- BSData ball screws (real camera images, two fixed positions) ---


def _bsdata() -> tuple[Path, list[dict[str, str]]]:
    root = require(assets_dir() / BSDATA, "BSData ball-screw images")
    labels = json.loads(require(root / "labels.json", "BSData labels").read_text("utf-8"))
    return root, labels["images"]


def _read(root: Path, entries: list[dict[str, str]]) -> list[Image]:
    images: list[Image] = []
    for entry in entries:
        image = cv2.imread(str(require(root / entry["file"], "BSData image")))
        assert image is not None and image.shape == (460, 1130, 3), entry["file"]
        images.append(np.asarray(image, np.uint8))
    return images


def test_bsdata_each_position_separates_pitting_from_good(model_dir: Path) -> None:
    """Per camera position: learn from the first 10 good frames (in time), evaluate on the
    other 5 good frames against the 8 pitted ones. Good frames come earlier in time than
    pitted ones, so wear or soiling may help; AUROC >= 0.9 per position is the bar."""
    root, entries = _bsdata()
    positions = sorted({e["position"] for e in entries})
    assert len(positions) == 2
    normalised_good: list[float] = []
    normalised_defect: list[float] = []
    for position in positions:
        mine = sorted((e for e in entries if e["position"] == position), key=lambda e: e["file"])
        good = [e for e in mine if e["label"] == "good"]
        defect = [e for e in mine if e["label"] == "defect"]
        assert (len(good), len(defect)) == (15, 8)
        reference = learn(_read(root, good[:10]), model_dir=model_dir)
        result = evaluate(reference, _read(root, good[10:]), _read(root, defect))
        print(
            f"{position}: bank {reference.bank.shape[0]}, AUROC {result.auroc:.3f}, "
            f"false-reject {result.false_reject_rate:.2f}, miss {result.miss_rate:.2f}, "
            f"threshold {result.threshold:.4f}, good {[round(s, 3) for s in result.good_scores]}"
            f", defect {[round(s, 3) for s in result.defect_scores]}"
        )
        assert result.auroc >= 0.9, (position, result)
        assert result.miss_rate <= 0.25, (position, result)
        normalised_good += [s / result.threshold for s in result.good_scores]
        normalised_defect += [s / result.threshold for s in result.defect_scores]
    # Both lines together, each item judged by its own camera's reference and threshold.
    combined = auroc(normalised_good, normalised_defect)
    print(f"combined (score / own threshold): AUROC {combined:.3f}")
    assert combined >= 0.9
