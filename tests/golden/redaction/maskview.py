"""maskview.py F x1 y1 x2 y2 scale: vtest frame F crop zoomed, next to the |frame-median| map, with hand boxes drawn."""
import av, cv2, numpy as np, sys
from boxes import T
f,x1,y1,x2,y2,s=map(int,sys.argv[1:7])
c=av.open('/work/shared/assets/video/vtest_480x360.avi'); S=[]
for i,fr in enumerate(c.decode(video=0)):
    if i%10==0 or i==f:
        a=fr.to_ndarray(format='bgr24').astype(np.int16)
        if i%10==0: S.append(a)
        if i==f: A=a
med=np.median(np.stack(S),0)
d=np.clip(np.abs(A-med).max(2)*3,0,255).astype(np.uint8)
outs=[]
for im in (A.astype(np.uint8),cv2.cvtColor(d,cv2.COLOR_GRAY2BGR)):
    z=cv2.resize(im[y1:y2,x1:x2],None,fx=s,fy=s,interpolation=cv2.INTER_NEAREST).copy()
    for gx in range((x1//10+1)*10,x2,10): cv2.line(z,((gx-x1)*s,0),((gx-x1)*s,z.shape[0]),(0,200,200),1); cv2.putText(z,str(gx),((gx-x1)*s+1,10),0,0.3,(0,255,255),1)
    for gy in range((y1//10+1)*10,y2,10): cv2.line(z,(0,(gy-y1)*s),(z.shape[1],(gy-y1)*s),(0,200,200),1); cv2.putText(z,str(gy),(1,(gy-y1)*s-1),0,0.3,(0,255,255),1)
    for b in T[('vtest_480x360.avi',f)]['people']:
        cv2.rectangle(z,((b[0]-x1)*s-1,(b[1]-y1)*s-1),((b[2]-x1)*s,(b[3]-y1)*s),(0,0,255),1)
    for b in T[('vtest_480x360.avi',f)]['heads']:
        cv2.rectangle(z,((b[0]-x1)*s-1,(b[1]-y1)*s-1),((b[2]-x1)*s,(b[3]-y1)*s),(255,0,0),1)
    outs.append(z)
cv2.imwrite('work/mv.png',np.hstack([outs[0],np.full((outs[0].shape[0],6,3),255,np.uint8),outs[1]]))
