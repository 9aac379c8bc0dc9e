import sys; sys.path.insert(0, '.')
import linetools as L, os
os.makedirs('_scratch', exist_ok=True)  # frames: python ../review_tools.py extract CLIP _scratch/frames
A, B = (0.15, 0.95), (0.85, 0.35)
def pt(s): return (A[0] + s * (B[0] - A[0]), A[1] + s * (B[1] - A[1]))
C = [(18,.67),(55,.72),(85,.87),(118,.73),(140,.8),(163,.7),(168,.74),(177,.7),
     (243,.6),(250,.84),(273,.65),(300,.95),(355,.78),(358,.61),
     (463,.77),(467,.71),(477,.65),(522,.73),(550,.16),(582,.34),(540,.95),(590,.95),
     (603,.66),(605,.82),(650,.68),(670,.89),(672,.27),(682,.61),(725,.73),(727,.73),(730,.83),(760,.67),(783,.93),(790,.57)]
items = [(t, *pt(s)) for t, s in C]
k = 0
for i in range(0, len(items), 6):
    L.cands(f'_scratch/d{k}.png', items[i:i+6], A, B, half=0.08, scale=2, span=8, step=2, above=0.17, below=0.05)
    k += 1
print(k)
