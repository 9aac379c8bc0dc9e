"""check.py VIDEO FRAME x1 y1 x2 y2 scale : render boxes.py boxes (people red, heads blue) over a zoomed crop -> work/c.png"""
import sys, json, subprocess
from boxes import T
v,f=sys.argv[1],int(sys.argv[2]); t=T[(v,f)]
b=[p for p in t['people']]+[h+[1] for h in t['heads']]+[u['box']+[1,1] for u in t.get('uncertain',[])]
subprocess.run([sys.executable,'zoom.py',f'work/{v.split(".")[0]}_{f}.png',*sys.argv[3:7],sys.argv[7],'10',json.dumps(b),'work/c.png'])
