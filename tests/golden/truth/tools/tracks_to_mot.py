"""usage: python tools/tracks_to_mot.py FOLDER

Generate MOTChallenge gt/gt.txt and seqinfo.ini from by-eye keyframes.json.

keyframes.json: {"name", "seqLength", "frameRate", "imWidth", "imHeight",
  "tracks": [{"id", "desc", "keys": [[frame, cx, top, bottom, width, visibility], ...]}]}
Every key is a by-eye reading of the FULL (unclipped) body box: cx = horizontal centre between the
feet (or body centre when the feet are outside the image), top = top of head, bottom = where the
feet touch the floor (estimated when hidden / outside the frame; see NOTES.md).  Frames are 1-based.
Between keys everything is linearly interpolated; a track exists from its first to its last key.
Boxes are clipped to the image when written.  stdlib only.
"""
import json, os, sys

here = sys.argv[1]  # the clip folder, e.g. tests/golden/truth/store-aisle
kf = json.load(open(os.path.join(here, "keyframes.json")))
W, H = kf["imWidth"], kf["imHeight"]
rows = []
for tr in kf["tracks"]:
    keys = sorted(tr["keys"], key=lambda k: k[0])
    for a, b in zip(keys, keys[1:]):
        assert a[0] < b[0], (tr["id"], a, b)
    for f in range(keys[0][0], keys[-1][0] + 1):
        for a, b in zip(keys, keys[1:] + [keys[-1]]):
            if a[0] <= f <= b[0]:
                t = 0.0 if b[0] == a[0] else (f - a[0]) / (b[0] - a[0])
                v = [a[i] + t * (b[i] - a[i]) for i in range(1, 6)]
                break
        cx, top, bot, w, vis = v
        x1, x2 = max(0.0, cx - w / 2), min(float(W), cx + w / 2)
        y1, y2 = max(0.0, top), min(float(H), bot)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        rows.append((f, tr["id"], round(x1, 1), round(y1, 1), round(x2 - x1, 1), round(y2 - y1, 1),
                     1, 1, round(max(0.0, min(1.0, vis)), 2)))
rows.sort(key=lambda r: (r[0], r[1]))
os.makedirs(os.path.join(here, "gt"), exist_ok=True)
with open(os.path.join(here, "gt", "gt.txt"), "w") as fh:
    for r in rows:
        fh.write(",".join(str(x) for x in r) + "\n")
with open(os.path.join(here, "seqinfo.ini"), "w") as fh:
    fh.write("[Sequence]\nname=%s\nimDir=img1\nframeRate=%d\nseqLength=%d\nimWidth=%d\nimHeight=%d\nimExt=.jpg\n"
             % (kf["name"], kf["frameRate"], kf["seqLength"], W, H))
print(len(rows), "rows,", len(kf["tracks"]), "tracks")
