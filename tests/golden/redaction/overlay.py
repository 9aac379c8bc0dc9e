"""overlay.py: re-extract the labelled frames with PyAV and draw truth.json boxes (people red, heads blue,
uncertain yellow) at 2x into overlays/*.png for review."""
import av, cv2, json, os
t=json.load(open('truth.json')); os.makedirs('overlays',exist_ok=True)
by={}
for f in t['frames']: by.setdefault(f['video'],{})[f['frame']]=f
for v,fs in by.items():
    for i,fr in enumerate(av.open('/work/shared/assets/video/'+v).decode(video=0)):
        if i in fs:
            a=cv2.resize(fr.to_ndarray(format='bgr24'),None,fx=2,fy=2,interpolation=cv2.INTER_NEAREST)
            for key,col in (('people',(0,0,255)),('heads',(255,0,0))):
                for b in fs[i][key]: cv2.rectangle(a,(2*b[0]-1,2*b[1]-1),(2*b[2],2*b[3]),col,1)
            for u in fs[i]['uncertain']:
                b=u['box']; cv2.rectangle(a,(2*b[0]-1,2*b[1]-1),(2*b[2],2*b[3]),(0,255,255),1)
            cv2.imwrite(f'overlays/{v.split(".")[0]}_{i}.png',a,[cv2.IMWRITE_PNG_COMPRESSION,9])
        if i>=max(fs): break
