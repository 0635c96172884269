#!/usr/bin/env python3
"""Grow a scanned catalog to N files for the benches: the rows already there (a few real
files) are copied under other paths (200 episodes a show, 20 a season), codecs, resolutions,
sizes and bit rates, with a fixed seed. Usage: grow-catalog.py CATALOG_DB N ROOT"""
import random
import sqlite3
import sys

db, n, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = sqlite3.connect(db)
cols = [r[1] for r in c.execute("PRAGMA table_info(file)") if r[1] != "id"]
seeds = c.execute(f"SELECT {', '.join(cols)} FROM file").fetchall()
random.seed(7)
codecs = ["h264", "h264", "hevc", "mpeg4", "av1", "vp9"]
heights = [(720, 480), (1280, 720), (1920, 1080), (1920, 1080), (3840, 2160)]
rows = []
for i in range(n - len(seeds)):
    r = dict(zip(cols, seeds[i % len(seeds)]))
    show, season = i // 200, (i // 20) % 10
    folder = f"{root}/Show {show:04d}/Season {season:02d}/"
    r["path"] = f"{folder}Episode {i:06d}.mkv"
    if "folder" in r:
        r["folder"] = folder
    r["size"] = random.randint(50, 20000) * 1_000_000
    r["inode"] = 1_000_000 + i
    r["fingerprint"] = f"bench-{i}"
    r["video_codec"] = codecs[i % len(codecs)]
    r["width"], r["height"] = heights[(i // 7) % len(heights)]
    r["hdr"] = "hdr10" if i % 10 == 0 else None
    r["bit_rate"] = r["size"] * 8 // 2700
    rows.append(tuple(r[k] for k in cols))
c.executemany(f"INSERT INTO file ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
c.commit()
print("files in the catalog:", c.execute("SELECT COUNT(*) FROM file").fetchone()[0])
