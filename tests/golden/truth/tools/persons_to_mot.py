#!/usr/bin/env python3
"""Generate MOTChallenge gt.txt from by-eye keyframes (keyframes.json).

keyframes.json: {"clip":..., "width":W, "height":H, "persons": {"<id>": {"kf": {"<frame1based>": [cx, by, ty, w, vis], ...}}}}
  cx = horizontal centre between the feet (x of the bottom-centre point)
  by = y where the feet touch the floor (box bottom), ty = top of head, w = box width (symmetric about cx)
  vis = estimated visible fraction.  Values may lie outside the image (person partly off-frame);
  boxes are clipped to the image when written.
Frames between keyframes are linearly interpolated; a person has rows from first to last keyframe.
A keyframe whose value is null marks "not visible": no rows from that frame until the next keyframe
(used for a person who leaves and comes back).
Usage: python make_gt.py [folder containing keyframes.json]   (default: this script's folder)
"""
import json, sys, os

def interp(kf, f):
    ks = sorted(kf)
    if f in kf: return kf[f]
    lo = max(k for k in ks if k < f); hi = min(k for k in ks if k > f)
    t = (f - lo) / (hi - lo)
    return [a + (b - a) * t for a, b in zip(kf[lo], kf[hi])]

def boxes(data):
    W, H = data["width"], data["height"]
    out = {}
    for pid, p in data["persons"].items():
        allk = {int(k): v for k, v in p["kf"].items()}
        kf = {k: v for k, v in allk.items() if v is not None}
        ks = sorted(allk)
        for f in range(min(kf), max(kf) + 1):
            last = max(k for k in ks if k <= f)
            if allk[last] is None: continue
            cx, by, ty, w, vis = interp(kf, f)
            x0, x1 = max(0.0, cx - w / 2), min(float(W), cx + w / 2)
            y0, y1 = max(0.0, ty), min(float(H), by)
            if x1 - x0 < 1 or y1 - y0 < 1: continue
            out.setdefault(f, []).append((int(pid), round(x0, 1), round(y0, 1), round(x1 - x0, 1), round(y1 - y0, 1), round(min(1, max(0, vis)), 2)))
    return out

def main(folder):
    data = json.load(open(os.path.join(folder, "keyframes.json")))
    b = boxes(data)
    lines = []
    for f in sorted(b):
        for (pid, x, y, w, h, vis) in sorted(b[f]):
            lines.append(f"{f},{pid},{x:g},{y:g},{w:g},{h:g},1,1,{vis:g}")
    os.makedirs(os.path.join(folder, "gt"), exist_ok=True)
    open(os.path.join(folder, "gt", "gt.txt"), "w").write("\n".join(lines) + "\n")
    print(len(lines), "rows,", len(data["persons"]), "persons")

if __name__ == "__main__":
    main(sys.argv[1])  # the clip folder, e.g. tests/golden/truth/one-by-one
