"""Helper for manual ground-truth review (no detector/tracker involved).

Usage:
  python review_tools.py extract CLIP OUTDIR          # dump every frame as PNG (frame index = decode order)
  python review_tools.py sheet FRAMEDIR OUT.png START STEP N COLS SCALE [x0 y0 x1 y1] [--line ax ay bx by]...
      contact sheet of N frames START, START+STEP, ... ; optional crop (normalised) upscaled by SCALE;
      lines drawn in red (A end marked green), frame index stamped on each tile.
"""

import os
import sys

import cv2
import numpy as np


def extract(clip, outdir):
    import av

    os.makedirs(outdir, exist_ok=True)
    n = 0
    with av.open(clip) as c:
        for i, fr in enumerate(c.decode(video=0)):
            cv2.imwrite(os.path.join(outdir, f"{i:05d}.png"), fr.to_ndarray(format="bgr24"))
            n = i + 1
    print("frames", n)


GRID = bool(int(os.environ.get("GRID", "0")))


def draw_lines(img, lines, crop):
    h, w = img.shape[:2]
    if GRID:  # faint 0.1 grid (normalised coords) to help read positions
        for k in range(1, 10):
            cv2.line(
                img,
                (int(k * w / 10), 0),
                (int(k * w / 10), h),
                (255, 255, 0) if k == 5 else (200, 200, 200),
                1,
            )
            cv2.line(
                img,
                (0, int(k * h / 10)),
                (w, int(k * h / 10)),
                (255, 255, 0) if k == 5 else (200, 200, 200),
                1,
            )
    for ax, ay, bx, by in lines:
        A = (round(ax * w), round(ay * h))
        B = (round(bx * w), round(by * h))
        cv2.line(img, A, B, (0, 0, 255), 1, cv2.LINE_AA)
        cv2.circle(img, A, 3, (0, 255, 0), -1)
    return img


def tile(framedir, idx, crop, scale, lines):
    p = os.path.join(framedir, f"{idx:05d}.png")
    img = cv2.imread(p)
    if img is None:
        return None
    h, w = img.shape[:2]
    img = draw_lines(img, lines, crop)
    if crop:
        x0, y0, x1, y1 = crop
        img = img[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)]
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    cv2.rectangle(img, (0, 0), (70, 22), (0, 0, 0), -1)
    cv2.putText(img, str(idx), (3, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 2)
    return img


def sheet(framedir, out, start, step, n, cols, scale, crop, lines):
    tiles = []
    for k in range(n):
        t = tile(framedir, start + k * step, crop, scale, lines)
        if t is None:
            break
        tiles.append(t)
    if not tiles:
        print("no frames")
        return
    _th, _tw = tiles[0].shape[:2]
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [
        np.hstack(
            [np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles[r : r + cols]]
        )
        for r in range(0, len(tiles), cols)
    ]
    cv2.imwrite(out, np.vstack(rows))
    print(out, len(rows), "rows")


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "extract":
        extract(a[1], a[2])
    elif a[0] == "sheet":
        lines = []
        while "--line" in a:
            i = a.index("--line")
            lines.append(tuple(map(float, a[i + 1 : i + 5])))
            del a[i : i + 5]
        framedir, out = a[1], a[2]
        start, step, n, cols = map(int, a[3:7])
        scale = float(a[7])
        crop = tuple(map(float, a[8:12])) if len(a) >= 12 else None
        sheet(framedir, out, start, step, n, cols, scale, crop, lines)
