"""bgdiff.py VIDEO F1,F2,.. : per-pixel median background over every STEP-th frame of the clip; writes
work/bg_<name>_<F>.png = frame on top, amplified |frame - median| below (for spotting small/partly hidden people)."""
import av, cv2, numpy as np, sys
v=sys.argv[1]; fs=[int(x) for x in sys.argv[2].split(',')]; step=int(sys.argv[3]) if len(sys.argv)>3 else 10
c=av.open('/work/shared/assets/video/'+v); S=[]; keep={}
for i,f in enumerate(c.decode(video=0)):
    if i%step==0 or i in fs:
        a=f.to_ndarray(format='bgr24')
        if i%step==0: S.append(a)
        if i in fs: keep[i]=a
med=np.median(np.stack(S),0).astype(np.int16)
n=v.split('.')[0]
for i,a in keep.items():
    d=np.clip(np.abs(a.astype(np.int16)-med).max(2)*3,0,255).astype(np.uint8)
    cv2.imwrite(f'work/bg_{n}_{i}.png',cv2.resize(np.vstack([a,cv2.cvtColor(d,cv2.COLOR_GRAY2BGR)]),None,fx=2,fy=2,interpolation=cv2.INTER_NEAREST))
print(len(S))
