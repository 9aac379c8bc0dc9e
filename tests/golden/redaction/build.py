"""build.py: write truth.json from boxes.py (hand-drawn boxes)."""
import json
from boxes import T
ORDER=[('vtest_480x360.avi',159),('vtest_480x360.avi',397),('vtest_480x360.avi',636),
 ('store-aisle-detection.gif',13),('store-aisle-detection.gif',33),('store-aisle-detection.gif',53),
 ('worker-zone-detection.gif',14),('worker-zone-detection.gif',56),
 ('one-by-one-person-detection.mp4',278),('one-by-one-person-detection.mp4',697)]
out={"about":"Independent by-eye ground truth of person and head boxes for redaction coverage tests. "
 "Boxes are [x1,y1,x2,y2] in native-resolution pixels, x2/y2 exclusive. Drawn from pixels only: no detector, "
 "face finder, neural network or onsight code was run, and the boxes in ../redaction_truth.json were not read.",
 "method":"PyAV decode (frame index = 0-based position in decode(video=0)); nearest-neighbour zooms 3x-6x with a "
 "labelled 10 px grid (zoom.py); frame differences vs frame-4/frame+4 to find moving/small people (diff.py); "
 "boxes overlaid on zooms and corrected (check.py); for ambiguous small figures a 5-frame strip (+-20 frames) was viewed. "
 "See NOTES.md.",
 "frames":[]}
for k in ORDER:
    t=T[k]; out["frames"].append({"video":k[0],"frame":k[1],"people":t['people'],"heads":t['heads'],"uncertain":t['uncertain']})
json.dump(out,open('truth.json','w'),indent=1)
for f in out["frames"]: print(f["video"],f["frame"],len(f["people"]),len(f["heads"]),len(f["uncertain"]))
