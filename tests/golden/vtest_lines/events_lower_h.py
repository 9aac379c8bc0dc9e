"""lower_h: A=(0.0,0.62) -> B=(1.0,0.62). (B-A)x(P-A) = (1)(Py-0.62) - 0 = Py - 0.62, > 0 below the line in image
coordinates, so 'in' = feet move DOWN across y=0.62, 'out' = UP. The line runs along the lower edge of the right
half of the path (x>0.55) and across the lawn (x<0.55). All events decided by eye (see NOTES.md)."""

LOWER_H = {
    "points": [[0.0, 0.62], [1.0, 0.62]],
    "description": "horizontal line at y=0.62 across the full width: lower edge of the right part of the path (x 0.55-1.0) and the lawn (x<0.55). Most crossings are people entering/leaving at the lower right and walking up-left onto the path.",
    "in_range": [5, 7],
    "out_range": [11, 11],
    "crossings": [
        (25, "out", "fair-haired woman in black coat walking up-left from the lower right (x~0.91), beside the man in red/navy; shallow angle, on the line 24"),
        (28, "out", "man in red/navy jacket with white papers beside her (x~0.88); on the line 25-27"),
        (54, "out", "man in dark jacket + jeans walking up-left from the lower right (x~0.85); on the line 50-53"),
        (200, "in", "man in dark jacket + jeans (who stood at the sign until ~150) walks down across the line (x~0.83); returns at 236"),
        (204, "in", "man in black walking right along the path, crosses at x~0.97 just before leaving the frame at the right edge; only 0.01-0.014 below before leaving (see ambiguous)"),
        (236, "out", "the 200 man turns and walks back up-left (x~0.63); = diag out 244, mid_v in 256"),
        (247, "out", "man in black jacket + black trousers walking up-left from the lower right (x~0.87); = diag out 274"),
        (377, "in", "man in black with a white paper walking right and slightly down (x~0.75); on the line 371-376, then 0.015-0.05 below until he leaves at the right edge (~402)"),
        (437, "out", "woman in red jacket walking up-left from the lower right (x~0.87); shallow angle, on the line 432-438 (+/-3)"),
        (493, "out", "bald man in black jacket + jeans, came in at the right edge at ~462 below the line, walks up-left (x~0.76); on the line 488-492"),
        (495, "in", "man in dark jacket + jeans walks down-right across the line (x~0.71), then right along y~0.66 out of the right edge (~522)"),
        (497, "in", "man in black who came down from the upper path steps across at x~0.80 (on the line 486-496) and stands 0.02-0.06 below it until ~625"),
        (622, "out", "man in red/navy jacket walks up from the tripod area (x~0.76)"),
        (630, "out", "the man in black (497) walks up-left out of his standing place (x~0.78)"),
        (673, "out", "man in light-blue jacket + grey trousers walking up-left from the lower right (x~0.80); = diag out 682"),
        (711, "out", "fair-haired woman walking up-left across the lawn towards the far-left path (x~0.15); on the line 706-712"),
        (785, "in", "man in red/navy jacket walking down-right onto the grass (x~0.50); on the line 778-784; 0.02-0.03 below at the end of the clip"),
    ],
    "ambiguous": [
        {"frames": "196-210", "counted": True, "note": "man in black walks right along the path with his feet 0.025 above the line at 196-198, on it at 200-202 and 0.01-0.014 below at 204-208, then leaves the frame at the right edge (x~0.98). Counted as in at 204 (same rule as the README's path_h 84-95 case); a counter can defensibly miss it."},
        {"frames": "362-375", "counted": False, "note": "man in red/navy + fair-haired woman walk right and leave the frame at the right edge with their feet 0.005-0.02 ABOVE the line. Not a crossing (jitter stress). They re-enter from the lower right at ~505 already well below the line, so their later lawn walk needs no in-crossing."},
        {"frames": "486-497", "counted": True, "note": "three men meet at x~0.71-0.80 with their feet on the line for ~5-10 frames: the bald man leaves upwards (out 493), the man in jeans goes down (in 495) and the man in black steps down and stays (in 497). Frames +/-2; identities are clear in the zooms but the boxes overlap."},
        {"frames": "786-794", "counted": False, "note": "bald man in black coat + jeans (x~0.80) walks towards the camera and his feet reach the line (within 0.01) in the last frames of the clip. Not counted."},
    ],
}
