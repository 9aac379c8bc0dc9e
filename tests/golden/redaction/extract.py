"""Extract labelled frames (+ neighbours for diff) with PyAV; frame index = 0-based decode position."""
import av, numpy as np, cv2, os, sys
V='/work/shared/assets/video'
FR={'vtest_480x360.avi':[159,397,636],'store-aisle-detection.gif':[13,33,53],
    'worker-zone-detection.gif':[14,56],'one-by-one-person-detection.mp4':[278,697]}
out='work'; os.makedirs(out,exist_ok=True)
for v,fs in FR.items():
    want=set()
    for f in fs: want|={f-4,f,f+4}
    c=av.open(os.path.join(V,v))
    for i,fr in enumerate(c.decode(video=0)):
        if i in want:
            a=fr.to_ndarray(format='bgr24')
            cv2.imwrite(f'{out}/{v.split(".")[0]}_{i}.png',a)
        if i>max(want): break
    print(v,a.shape)
