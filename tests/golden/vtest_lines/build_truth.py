"""Writes truth.json from the hand-labelled events below (all decided by eye; see NOTES.md)."""
import json, os

MID_V = {
    "points": [[0.5, 0.0], [0.5, 1.0]],
    "description": "full-height vertical at x=0.5, just left of the lamp post/sign (x~0.53-0.58); a group stands at the sign in frames ~20-160",
    "in_range": [16, 19],
    "out_range": [12, 15],
    "crossings": [
        (23, "out", "man in dark jacket + dark trousers walks right from the lower-left path into the group at the sign (feet y~0.47); feet on the line at 21-22, then 0.003-0.02 right of it until he leaves at 60"),
        (60, "in", "same man leaves the group walking left (feet y~0.45); = path_v in 65"),
        (104, "out", "man in black walking right along the lower path (feet y~0.49); = path_v out 98"),
        (160, "in", "person in light-blue/white hooded jacket with bag, walking left (feet y~0.41)"),
        (181, "in", "man in striped jumper + jeans walking left (feet y~0.50)"),
        (221, "in", "man in brown jacket + jeans walking left (feet y~0.41)"),
        (256, "in", "man in dark jacket + jeans walking left (feet y~0.53)"),
        (279, "in", "man in black walking left on the upper path (feet y~0.40)"),
        (289, "in", "man in black jacket + black trousers walking left (feet y~0.53); returns at 348"),
        (312, "out", "man in dark jacket + jeans walking right on the upper path (feet y~0.37)"),
        (333, "out", "man with light/grey hair, dark jacket + jeans, walking right (feet y~0.44)"),
        (348, "out", "man in black jacket + black trousers (the 289 man) walking back right (feet y~0.53)"),
        (351, "out", "person in long black coat walking right on the upper path (feet y~0.42); feet partly hidden behind the 348 man at 349-350, +/-2"),
        (362, "in", "man in dark jacket + jeans swinging his arms, walking left (feet y~0.42)"),
        (463, "out", "same arms-swinging man walking right after standing left of the line (feet y~0.50)"),
        (489, "in", "woman in red jacket + jeans walking left (feet y~0.47)"),
        (530, "in", "man in red/navy jacket with white papers on the grass (feet y~0.95), walking left beside the fair-haired woman"),
        (535, "in", "fair-haired woman in long black coat on the grass (feet y~0.96), walking left just behind him"),
        (565, "in", "man in dark jacket + jeans walking left on the upper path (feet y~0.40)"),
        (593, "out", "man in red/navy jacket on the grass walking up-right towards the tripod (feet y~0.76)"),
        (613, "out", "fair-haired woman on the grass at the very bottom edge (feet y~0.98-1.0) walking right; her feet reach ~0.02 right of the line"),
        (630, "in", "same woman turns and comes back left (feet y~0.97); see ambiguous 613-630"),
        (640, "in", "man in dark jacket + jeans walking left on the upper path (feet y~0.40)"),
        (679, "out", "woman in red jacket walking right on the upper path (feet y~0.36)"),
        (690, "in", "man in light-blue jacket + grey trousers walking left (feet y~0.53)"),
        (701, "out", "man with light hair, dark jacket + jeans, walking right (feet y~0.43)"),
        (707, "in", "man in red/navy jacket walking left on the upper path (feet y~0.37)"),
        (746, "out", "man in black jacket + jeans walking right (feet y~0.50)"),
        (752, "in", "man in dark jacket + black trousers walking left (feet y~0.42); on the line 750-751"),
        (774, "in", "man in black coat walking left (feet y~0.45)"),
        (782, "out", "man in red/navy jacket walking down-right onto the grass (feet y~0.60)"),
        (791, "out", "fair-haired woman in black coat walking right on the upper path (feet y~0.38)"),
    ],
    "ambiguous": [
        {"frames": "21-60", "counted": True, "note": "man in dark jacket + dark trousers (events 23 out / 60 in): his feet reach the line at 21-22 and he then stands in the group only 0.003-0.025 right of x=0.5 (partly hidden behind the jeans man and the sign) before walking back left. Both events counted; a detector whose feet point is 1-2 px off could miss the pair or add flicker."},
        {"frames": "35-150", "counted": False, "note": "man in dark jacket + jeans (came down from the upper right at 0-23) stands in the group with his legs over the line, but the midpoint of his feet stays 0.004-0.02 RIGHT of x=0.5 the whole time (closest ~0.004 at 60-85 and 108-116); he leaves to the right at ~150. Not a crossing. Strong jitter stress: a counter may report 1 in + 1 out (or more)."},
        {"frames": "20-160", "counted": False, "note": "man in black trousers who came from the lower right stands at the sign (feet x~0.53-0.55) and later leaves right with the group at ~155-165: never reaches x=0.5."},
        {"frames": "613-630", "counted": True, "note": "fair-haired woman on the grass at the bottom edge: walks right, feet go 0.01-0.02 right of the line for 17 frames (613-629), turns and comes back left (630). Counted as 1 out + 1 in. Her feet are at y~0.98-1.0, at the frame edge, so a detector box may be clipped."},
        {"frames": "636-650", "counted": False, "note": "the same woman's coat and bag overlap the line while her feet are 0.01-0.03 left of it; no crossing."},
    ],
}

def pack(d):
    cr = [{"frame": f, "direction": s, "note": n} for f, s, n in d["crossings"]]
    cr.sort(key=lambda e: e["frame"])
    out = {"points": d["points"],
           "in": sum(e["direction"] == "in" for e in cr),
           "out": sum(e["direction"] == "out" for e in cr),
           "crossings": cr, "ambiguous": d["ambiguous"]}
    for k in ("in_range", "out_range", "description"):
        if k in d:
            out[k] = d[k]
    return out

LINES = {"mid_v": MID_V}
try:
    from events_diag import DIAG
    LINES["diag"] = DIAG
except ImportError:
    pass
try:
    from events_lower_h import LOWER_H
    LINES["lower_h"] = LOWER_H
except ImportError:
    pass

truth = {"clip": "vtest_480x360.avi", "frames": 795, "fps": 10,
         "lines": {k: pack(v) for k, v in LINES.items()}}
p = os.path.join(os.path.dirname(os.path.abspath(__file__)), "truth.json")
json.dump(truth, open(p, "w"), indent=1)
for k, v in truth["lines"].items():
    print(k, "in", v["in"], "out", v["out"])
