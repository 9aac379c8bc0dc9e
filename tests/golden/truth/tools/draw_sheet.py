"""Render a verification contact sheet of gt/gt.txt drawn over the clip (review aid only).

usage: python tools/draw_sheet.py FOLDER [every_n_frames] [out.png]
Needs PyAV + OpenCV + numpy (the project venv). Reads seqinfo.ini for the clip name.
Boxes are drawn per id colour; the dot marks the bottom centre (the counted point).
"""
import os, sys, configparser
import av, cv2, numpy as np

CLIPS = {"store-aisle": "store-aisle-detection.gif", "worker-zone": "worker-zone-detection.gif",
         "people-detection": "people-detection.gif", "face-walking": "face-demographics-walking.gif",
         "classroom": "classroom.gif"}
here = sys.argv[1]
cfg = configparser.ConfigParser(); cfg.read(os.path.join(here, "seqinfo.ini"))
name = cfg["Sequence"]["name"]
every = int(sys.argv[2]) if len(sys.argv) > 2 else 4
out = sys.argv[3] if len(sys.argv) > 3 else "/tmp/%s_verify_sheet.png" % name
boxes = {}
for line in open(os.path.join(here, "gt", "gt.txt")):
    f, i, x, y, w, h = [float(v) for v in line.split(",")[:6]]
    boxes.setdefault(int(f), []).append((int(i), x, y, w, h))
cols = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0)]
frames = [fr.to_ndarray(format="bgr24") for fr in av.open(os.path.join("/work/shared/assets/video", CLIPS[name])).decode(video=0)]
tiles = []
for n in list(range(1, len(frames) + 1, every)) + ([len(frames)] if (len(frames) - 1) % every else []):
    im = frames[n - 1].copy()
    for i, x, y, w, h in boxes.get(n, []):
        c = cols[i % len(cols)]
        cv2.rectangle(im, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), c, 1)
        cv2.circle(im, (int(round(x + w / 2)), int(round(y + h))), 3, c, -1)
        cv2.putText(im, str(i), (int(x) + 2, int(y) + 12), 0, 0.4, c, 1)
    cv2.putText(im, "f%d" % n, (5, 16), 0, 0.5, (0, 255, 255), 1)
    tiles.append(im)
while len(tiles) % 4:
    tiles.append(np.zeros_like(tiles[0]))
sheet = np.vstack([np.hstack(tiles[r:r + 4]) for r in range(0, len(tiles), 4)])
cv2.imwrite(out, sheet)
print(out, sheet.shape)
