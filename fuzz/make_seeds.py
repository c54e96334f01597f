#!/usr/bin/env python3
# Writes the seed corpus of both fuzz targets (run from fuzz/; needs the zstd CLI). The
# seeds are committed; rerun only to change them.
import json, gzip, subprocess, os
P='corpus/protocol_decode'; H='corpus/push_handler'
def op(entity, eid, kind, fields, i=1, base=0):
    return {"op_id": f"0190a0b0-0000-7000-8000-{i:012d}", "device_seq": i, "entity": entity, "entity_id": eid,
            "kind": kind, "fields": fields, "base_version": base, "device_time": 1700000000000}
def push(ops): return json.dumps({"protocol": 1, "ops": ops, "sent_at": 1700000000000}, ensure_ascii=False).encode()
hh = {"building_id": "B1", "grid_id": "G1", "room": "301", "address": "一路1号301", "head_name": "王五", "phone": "13700137000",
      "member_count": 1, "care_tags": ["elderly_alone"], "notes": ""}
seeds = {
 "push_update": push([op("household", "H1", "update", {"notes": "独居老人，每周探访"})]),
 "push_create_household": push([op("household", "H9", "create", hh)]),
 "push_mixed": push([op("household", "H1", "update", {"member_count": 3}, 1),
                     op("incident", "I1", "event", {"id": "E1", "kind": "note", "note": "已到场", "at": 1700000000001}, 2),
                     op("household", "H2", "update", {"notes": "越界"}, 3),
                     op("spaceship", "X", "update", {}, 4),
                     op("household", "H1", "delete", {}, 5)]),
 "push_incident": push([op("incident", "I9", "create", {"category": "environment", "severity": "normal", "grid_id": "G1",
     "building_id": "B1", "household_id": None, "lat": 22.58, "lng": 113.08, "location_text": "楼下", "description": "垃圾堆放",
     "photos": [], "reporter_id": "x", "reporter_role": "grid_worker", "reported_at": 1700000000000})]),
 "push_patrol_track": push([op("patrol", "P1", "create", {"grid_id": "G1", "worker_id": "w", "started_at": 1, "ended_at": None, "note": ""}, 1),
     op("patrol_track", "T1", "create", {"patrol_id": "P1", "grid_id": "G1", "points": [{"lat": 22.5, "lng": 113.1, "at": 2}]}, 2)]),
 "push_injection": push([op("household", "H1", "update", {"notes": "'; DROP TABLE households; --"})]),
 "push_empty": push([]),
 "push_bad_types": push([op("household", "H1", "update", {"member_count": "七"}), {"op_id": 5}]),
 "push_big_numbers": b'{"protocol":1,"ops":[{"op_id":"a","device_seq":18446744073709551616,"entity":"household","entity_id":"H1","kind":"update","fields":{"member_count":1e400},"base_version":-1,"device_time":-9223372036854775808}],"sent_at":0}',
 "push_protocol_2": json.dumps({"protocol": 2, "ops": [], "sent_at": 0}).encode(),
 "push_truncated": push([op("household", "H1", "update", {"notes": "x"})])[:57],
 "push_deep": b'{"protocol":1,"ops":[' + b'[' * 200 + b']' * 200 + b'],"sent_at":0}',
 "pull": b'{"protocol":1,"cursor":0,"limit":100}',
 "pull_epoch": b'{"protocol":1,"cursor":42,"limit":1000,"scope_epoch":3}',
 "pull_negative": b'{"protocol":1,"cursor":-1,"limit":10}',
 "enroll": json.dumps({"protocol": 1, "username": "wang", "password": "pass-1234", "device_name": "华为 Mate"}, ensure_ascii=False).encode(),
 "invalid_utf8": b'{"protocol":1,"ops":[],"sent_at":0,"x":"\xff\xfe"}',
 "not_json": b'cursor=0&limit=10',
}
for name, data in seeds.items():
    open(f"{P}/{name}.json", "wb").write(data)
    # push_handler: a selector byte, then the body (0: as is, 1: zstd, 2: gzip, 3: labelled zstd, raw; 8: version header)
    open(f"{H}/{name}.bin", "wb").write(bytes([8]) + data)
for name in ["push_update", "push_mixed"]:
    open(f"{H}/{name}_zstd.bin", "wb").write(bytes([1 | 8]) + seeds[name])
    open(f"{H}/{name}_gzip.bin", "wb").write(bytes([2]) + seeds[name])
    open(f"{H}/{name}_mislabelled.bin", "wb").write(bytes([3]) + seeds[name])
    open(f"{H}/{name}_text_plain.bin", "wb").write(bytes([4]) + seeds[name])
    open(f"{P}/{name}.json.gz", "wb").write(gzip.compress(seeds[name], mtime=0))
    z = subprocess.run(["zstd", "-q", "-c", "-3"], input=seeds[name], capture_output=True, check=True).stdout
    open(f"{P}/{name}.json.zst", "wb").write(z)
# A zstd bomb: 8 MiB of spaces compressed.
bomb = subprocess.run(["zstd", "-q", "-c", "-19"], input=b'{"protocol":1,"ops":[],"sent_at":0}' + b' ' * (8 << 20), capture_output=True, check=True).stdout
open(f"{P}/zstd_bomb.zst", "wb").write(bomb)
open(f"{H}/zstd_bomb.bin", "wb").write(bytes([3]) + bomb)
