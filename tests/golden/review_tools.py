"""Helper for manual ground-truth review (no detector/tracker involved).

Usage:
  python review_tools.py extract CLIP OUTDIR          # dump every frame as PNG (frame index = decode order)
  python review_tools.py sheet FRAMEDIR OUT.png START STEP N COLS SCALE [x0 y0 x1 y1] [--line ax ay bx by]...
      contact sheet of N frames START, START+STEP, ... ; optional crop (normalised) upscaled by SCALE;
      lines drawn in red (A end marked green), frame index stamped on each tile.
      Set GRID=1 in the environment to overlay a 0.1 grid (0.5 in cyan).
  python review_tools.py xslice FRAMEDIR OUT.png X Y0 Y1 T0 T1
      space-time image of the pixel column at x=X (y from Y0 to Y1) for frames T0..T1-1
      (time runs left to right, 3 px per frame, tick every 10 frames, label every 50).
      Every person whose body passes x=X shows up as a vertical streak whose lower end
      is the feet; used only as a checklist so that no crossing of a vertical line is missed.
  python review_tools.py zoom FRAMEDIR OUT.png START STOP STEP x0 y0 x1 y1 SCALE COLS ax ay bx by
      crops (normalised) around one line, drawn in red with parallel guides at +/-0.01 of
      frame height (yellow), to judge which side the feet are on frame by frame.
No detector or tracker is involved anywhere; all judgements were made by eye.
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


def load(framedir, t):
    return cv2.imread(os.path.join(framedir, f"{t:05d}.png"))


def xslice(framedir, out, x, y0, y1, t0, t1, sx=3, sy=2):
    cols = []
    for t in range(t0, t1):
        im = load(framedir, t)
        if im is None:
            break
        h, w = im.shape[:2]
        cols.append(im[int(y0 * h) : int(y1 * h), round(x * w)])
    sl = np.stack(cols, axis=1)
    sl = cv2.resize(sl, None, fx=sx, fy=sy, interpolation=cv2.INTER_NEAREST)
    for t in range(t0, t0 + len(cols)):
        if t % 10 == 0:
            X = (t - t0) * sx
            cv2.line(sl, (X, 0), (X, 8 if t % 50 else 14), (0, 255, 255), 1)
            if t % 50 == 0:
                cv2.putText(sl, str(t), (X + 2, 22), 0, 0.45, (0, 255, 255), 1)
    cv2.imwrite(out, sl)


def zoom(framedir, out, frames, crop, scale, cols, A, B):
    tiles = []
    for t in frames:
        im = load(framedir, t)
        h, w = im.shape[:2]
        x0, y0, x1, y1 = crop
        c = im[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)]
        c = cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)

        def P(p, dy=0):
            return (round((p[0] - x0) * w * scale), round((p[1] + dy - y0) * h * scale))

        for dy, col in ((-0.01, (0, 220, 220)), (0.01, (0, 220, 220)), (0, (0, 0, 255))):
            cv2.line(c, P(A, dy), P(B, dy), col, 1, cv2.LINE_AA)
        cv2.rectangle(c, (0, 0), (44, 16), (0, 0, 0), -1)
        cv2.putText(c, str(t), (2, 13), 0, 0.45, (0, 255, 255), 1)
        tiles.append(np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    cv2.imwrite(
        out, np.vstack([np.hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)])
    )


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "extract":
        extract(a[1], a[2])
    elif a[0] == "xslice":
        xslice(a[1], a[2], float(a[3]), float(a[4]), float(a[5]), int(a[6]), int(a[7]))
    elif a[0] == "zoom":
        s0, s1, st = map(int, a[3:6])
        crop = tuple(map(float, a[6:10]))
        sc = float(a[10])
        cols = int(a[11])
        ax, ay, bx, by = map(float, a[12:16])
        zoom(a[1], a[2], list(range(s0, s1, st)), crop, sc, cols, (ax, ay), (bx, by))
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
