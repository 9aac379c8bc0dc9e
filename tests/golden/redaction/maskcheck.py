"""maskcheck.py: cross-check (not a source) of hand boxes on vtest: bbox of |frame - clip median| > THR inside each
hand box grown by M px; prints hand box, mask bbox and per-side deltas (positive = mask extends beyond hand box)."""
import av, cv2, numpy as np, sys
from boxes import T
v='vtest_480x360.avi'; THR=int(sys.argv[1]) if len(sys.argv)>1 else 40; M=6
fs=[f for (vv,f) in T if vv==v]
c=av.open('/work/shared/assets/video/'+v); S=[]; keep={}
for i,f in enumerate(c.decode(video=0)):
    if i%10==0 or i in fs:
        a=f.to_ndarray(format='bgr24').astype(np.int16)
        if i%10==0: S.append(a)
        if i in fs: keep[i]=a
med=np.median(np.stack(S),0)
for f in fs:
    d=np.abs(keep[f]-med).max(2)>THR
    for b in T[(v,f)]['people']:
        x1,y1,x2,y2=b; X1,Y1=max(0,x1-M),max(0,y1-M); sub=d[Y1:y2+M,X1:x2+M]
        ys,xs=np.nonzero(sub)
        if len(xs)==0: print(f,b,'no mask'); continue
        mb=[xs.min()+X1,ys.min()+Y1,xs.max()+X1+1,ys.max()+Y1+1]
        print(f,b,mb,'deltas L,T,R,B:',x1-mb[0],y1-mb[1],mb[2]-x2,mb[3]-y2)
