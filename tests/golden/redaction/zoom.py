"""zoom.py IMG x1 y1 x2 y2 scale grid [boxes-json] -> work/z.png ; nearest-neighbour zoom with labelled pixel grid,
optional boxes drawn (1px outline outside the box: box pixel range [x1,x2) is inside the drawn rectangle)."""
import cv2, sys, json, numpy as np
img=cv2.imread(sys.argv[1]); x1,y1,x2,y2,s,g=map(int,sys.argv[2:8])
boxes=json.loads(sys.argv[8]) if len(sys.argv)>8 else []
out=sys.argv[9] if len(sys.argv)>9 else 'work/z.png'
c=img[y1:y2,x1:x2]; z=cv2.resize(c,None,fx=s,fy=s,interpolation=cv2.INTER_NEAREST)
pad=30; Z=np.full((z.shape[0]+pad,z.shape[1]+pad,3),255,np.uint8); Z[pad:,pad:]=z
for x in range((x1//g+1)*g if x1%g else x1,x2,g):
    X=pad+(x-x1)*s; cv2.line(Z,(X,pad),(X,Z.shape[0]),(0,255,255),1)
    cv2.putText(Z,str(x),(X-8,20),cv2.FONT_HERSHEY_SIMPLEX,0.35,(0,0,0),1)
for y in range((y1//g+1)*g if y1%g else y1,y2,g):
    Y=pad+(y-y1)*s; cv2.line(Z,(pad,Y),(Z.shape[1],Y),(0,255,255),1)
    cv2.putText(Z,str(y),(0,Y+4),cv2.FONT_HERSHEY_SIMPLEX,0.35,(0,0,0),1)
for i,b in enumerate(boxes):
    bx1,by1,bx2,by2=b[:4]; col=(0,0,255) if len(b)<5 else (255,0,0)
    cv2.rectangle(Z,(pad+(bx1-x1)*s-1,pad+(by1-y1)*s-1),(pad+(bx2-x1)*s,pad+(by2-y1)*s),col,1)
cv2.imwrite(out,Z)
