"""diff.py NAME F -> work/d.png: max abs diff of frame F vs F-4 and F+4, amplified, side by side with frame."""
import cv2, sys, numpy as np
n,f=sys.argv[1],int(sys.argv[2]); s=int(sys.argv[3]) if len(sys.argv)>3 else 2
a=cv2.imread(f'work/{n}_{f}.png').astype(int)
d=np.maximum(np.abs(a-cv2.imread(f'work/{n}_{f-4}.png')).max(2),np.abs(a-cv2.imread(f'work/{n}_{f+4}.png')).max(2))
d=np.clip(d*3,0,255).astype(np.uint8)
out=np.vstack([a.astype(np.uint8),cv2.cvtColor(d,cv2.COLOR_GRAY2BGR)])
cv2.imwrite('work/d.png',cv2.resize(out,None,fx=s,fy=s,interpolation=cv2.INTER_NEAREST))
