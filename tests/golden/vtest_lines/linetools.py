"""Frames must first be extracted with: python ../review_tools.py extract CLIP _scratch/frames

Helpers for manual review of vtest_lines (raw pixels only; no detector/tracker/model).

  python linetools.py lslice OUT.png ax ay bx by T0 T1 [N]   space-time image of the pixels
      sampled along segment A->B (vertical axis: A at top, B at bottom), time left->right, 3 px/frame;
      right panel half: |frame - median background| to make people stand out.
  python linetools.py zoomline OUT.png T0 T1 STEP x0 y0 x1 y1 SCALE COLS ax ay bx by
      crops with the (infinite) line drawn in red, segment in solid red, +/-0.01 guides (perp, yellow)
"""
import os, sys
import cv2, numpy as np

TINT = bool(int(os.environ.get("TINT", "1")))
FD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_scratch", "frames")

def load(t):
    return cv2.imread(os.path.join(FD, f"{t:05d}.png"))

_bg = None
def bg():
    global _bg
    p = os.path.join(os.path.dirname(FD), "median.png")
    if _bg is None:
        if os.path.exists(p):
            _bg = cv2.imread(p)
        else:
            st = np.stack([load(t) for t in range(0, 795, 5)])
            _bg = np.median(st, axis=0).astype(np.uint8)
            cv2.imwrite(p, _bg)
    return _bg

def samples(A, B, n, w=480, h=360):
    s = np.linspace(0, 1, n)
    xs = (A[0] + s * (B[0] - A[0])) * w
    ys = (A[1] + s * (B[1] - A[1])) * h
    return np.clip(np.round(xs).astype(int), 0, w - 1), np.clip(np.round(ys).astype(int), 0, h - 1)

def lslice(out, A, B, t0, t1, n=None, sx=3, sy=2, diff=True):
    if n is None:
        n = int(max(abs(B[0] - A[0]) * 480, abs(B[1] - A[1]) * 360)) + 1
    xs, ys = samples(A, B, n)
    cols, dcols = [], []
    b = bg()[ys, xs].astype(int)
    for t in range(t0, t1):
        im = load(t)
        if im is None:
            break
        c = im[ys, xs]
        cols.append(c)
        d = np.abs(c.astype(int) - b).sum(1)
        d = np.clip(d * 2, 0, 255).astype(np.uint8)
        dcols.append(np.stack([d, d, d], 1))
    def mk(cols):
        sl = np.stack(cols, axis=1)
        sl = cv2.resize(sl, None, fx=sx, fy=sy, interpolation=cv2.INTER_NEAREST)
        for t in range(t0, t0 + len(cols)):
            if t % 10 == 0:
                X = (t - t0) * sx
                cv2.line(sl, (X, 0), (X, 8 if t % 50 else 14), (0, 255, 255), 1)
                if t % 50 == 0:
                    cv2.putText(sl, str(t), (X + 2, 22), 0, 0.45, (0, 255, 255), 1)
        # marks every 0.1 of segment on the left edge
        for k in range(11):
            Y = int(k / 10 * (n - 1) * sy)
            cv2.line(sl, (0, Y), (6, Y), (0, 0, 255), 1)
        return sl
    a = mk(cols)
    if diff:
        a = np.vstack([a, np.full((6, a.shape[1], 3), 255, np.uint8), mk(dcols)])
    cv2.imwrite(out, a)

def zoomline(out, frames, crop, scale, cols, A, B, guide=0.01):
    tiles = []
    x0, y0, x1, y1 = crop
    A = np.array(A, float); B = np.array(B, float)
    d = (B - A) * [480, 360]; L = np.linalg.norm(d); nrm = np.array([-d[1], d[0]]) / L  # pixel normal
    for t in frames:
        im = load(t)
        if im is None:
            break
        h, w = im.shape[:2]
        c = im[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)]
        c = cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        def P(p):
            return (round((p[0] - x0 * w) * scale), round((p[1] - y0 * h) * scale))
        if TINT:  # light blue tint on the negative side ((B-A)x(P-A) < 0)
            H, W = c.shape[:2]
            yy, xx = np.mgrid[0:H, 0:W]
            px = xx / scale + x0 * w; py = yy / scale + y0 * h
            cr = (B[0] - A[0]) * (py / h - A[1]) - (B[1] - A[1]) * (px / w - A[0])
            m = cr < 0
            c = c.copy(); c[m] = (0.75 * c[m] + 0.25 * np.array([255, 120, 0])).astype(np.uint8)
        pa = A * [w, h]; pb = B * [w, h]
        far = lambda p, q: (p + (p - q) * 5)
        for off, col in ((-guide * h, (0, 220, 220)), (guide * h, (0, 220, 220))):
            cv2.line(c, P(far(pa, pb) + nrm * off), P(far(pb, pa) + nrm * off), col, 1, cv2.LINE_AA)
        cv2.line(c, P(far(pa, pb)), P(far(pb, pa)), (0, 0, 160), 1, cv2.LINE_AA)
        cv2.line(c, P(pa), P(pb), (0, 0, 255), 1, cv2.LINE_AA)
        cv2.rectangle(c, (0, 0), (44, 16), (0, 0, 0), -1)
        cv2.putText(c, str(t), (2, 13), 0, 0.45, (0, 255, 255), 1)
        tiles.append(np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    cv2.imwrite(out, np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]))

if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "lslice":
        n = int(a[8]) if len(a) > 8 else None
        lslice(a[1], tuple(map(float, a[2:4])), tuple(map(float, a[4:6])), int(a[6]), int(a[7]), n)
    elif a[0] == "zoomline":
        t0, t1, st = map(int, a[2:5])
        crop = tuple(map(float, a[5:9])); sc = float(a[9]); cols = int(a[10])
        zoomline(a[1], list(range(t0, t1, st)), crop, sc, cols, tuple(map(float, a[11:13])), tuple(map(float, a[13:15])))

def rowslices(out, ys, x0, x1, t0, t1, sx=4, st=2):
    """x-t images (time downwards, st px/frame) of pixel rows at heights ys; x=0.5 marked red at top/bottom,
    tick marks every 10 frames; lets one follow legs/feet positions over time."""
    panels = []
    for y in ys:
        Y = int(round(y * 360))
        rows = [load(t)[Y, int(x0 * 480):int(x1 * 480)] for t in range(t0, t1)]
        im = np.stack(rows, 0)
        im = cv2.resize(im, None, fx=sx, fy=st, interpolation=cv2.INTER_NEAREST)
        for xx in np.arange(np.ceil(x0 * 20) / 20, x1, 0.05):
            X = int((xx - x0) * 480 * sx)
            col = (0, 0, 255) if abs(xx - 0.5) < 1e-6 else (0, 200, 200)
            im[::6, X] = col
        for t in range(t0, t1):
            if t % 10 == 0:
                cv2.line(im, (0, (t - t0) * st), (8 if t % 50 else 16, (t - t0) * st), (0, 255, 255), 1)
                if t % 50 == 0:
                    cv2.putText(im, str(t), (18, (t - t0) * st + 5), 0, 0.4, (0, 255, 255), 1)
        cv2.putText(im, f"y={y}", (im.shape[1] - 60, 12), 0, 0.4, (0, 255, 255), 1)
        panels.append(np.pad(im, ((0, 0), (3, 3), (0, 0)), constant_values=255))
    cv2.imwrite(out, np.hstack(panels))

def cands(out, items, A, B, half=0.06, scale=2.5, span=4, step=1, above=0.12, below=0.03):
    """one row per candidate (t, xc, yfeet): frames t-span..t+span around the feet, line drawn."""
    rows = []
    tmp = out + ".tmp.png"
    for t, xc, yf in items:
        fr = [f for f in range(t - span, t + span + 1, step) if 0 <= f < 795]
        crop = (max(0, xc - half), max(0, yf - above), min(1, xc + half), min(1, yf + below))
        zoomline(tmp, fr, crop, scale, len(fr), A, B)
        rows.append(cv2.imread(tmp))
    W = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, W - r.shape[1]), (0, 0))) for r in rows]
    cv2.imwrite(out, np.vstack(rows)); os.remove(tmp)

def rotpatch(t, A, B, s, ulo=-40, uhi=40, vlo=-60, vhi=20, scale=2.0):
    """patch rotated so the line A->B is horizontal (red), centred on the point at fraction s;
    up in the patch = negative side ((B-A)x(P-A) < 0), down = positive side. Guides at +/-0.01*360 px (yellow).
    Green tick = segment end if inside the patch."""
    im = load(t)
    a = np.array(A) * [480, 360]; b = np.array(B) * [480, 360]
    d = (b - a) / np.linalg.norm(b - a); n = np.array([-d[1], d[0]])
    P = a + s * (b - a)
    W = int((uhi - ulo) * scale); H = int((vhi - vlo) * scale)
    # output pixel (X,Y) -> u = ulo + X/scale, v = vlo + Y/scale -> input = P + u d + v n
    M = np.array([[d[0] / scale, n[0] / scale, P[0] + ulo * d[0] + vlo * n[0]],
                  [d[1] / scale, n[1] / scale, P[1] + ulo * d[1] + vlo * n[1]]])
    out = cv2.warpAffine(im, M, (W, H), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_CUBIC, borderValue=(0, 0, 0))
    y0 = int(-vlo * scale)
    g = 3.6 * scale
    for yy, col in ((y0 - g, (0, 220, 220)), (y0 + g, (0, 220, 220)), (y0, (0, 0, 255))):
        cv2.line(out, (0, int(round(yy))), (W, int(round(yy))), col, 1)
    L = np.linalg.norm(b - a)
    for e in (0.0, 1.0):
        ue = (e - s) * L
        if ulo <= ue <= uhi:
            X = int((ue - ulo) * scale); cv2.line(out, (X, y0 - 15), (X, y0 + 15), (0, 255, 0), 2)
    cv2.rectangle(out, (0, 0), (40, 14), (0, 0, 0), -1)
    cv2.putText(out, str(t), (2, 12), 0, 0.42, (0, 255, 255), 1)
    return np.pad(out, ((2, 2), (2, 2), (0, 0)), constant_values=255)

def rotrows(out, items, A, B, span=4, step=1, **kw):
    rows = []
    for it in items:
        t, s = it[0], it[1]
        fr = [f for f in range(t - span, t + span + 1, step) if 0 <= f < 795]
        tiles = [rotpatch(f, A, B, s, **kw) for f in fr]
        while len(tiles) < 2 * span // step + 1:
            tiles.append(np.zeros_like(tiles[0]))
        rows.append(np.hstack(tiles))
    cv2.imwrite(out, np.vstack(rows))
