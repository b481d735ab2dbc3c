"""A careful kazoo sync: the peer `make bench` times ringmaster's apply against.

It does what internal/baresync does, the way a careful Python operator would
write it with kazoo: manifests decoded with PyYAML's C loader, the live tree
read with asynchronous requests (every request of one level in flight at
once), a byte-for-byte diff, and transactions of --batch ops, each set and
delete checked against the version read. No lock, no inventory, no status.

Usage: kazoo_sync.py --servers H:P,... --root /path --dir FOLDER [--batch 1000]

Each ConfigEntry's spec.value lands at ROOT/data/config/SPEC.PATH as compact
JSON with sorted keys. Prints one line of counts; exit 0, or 1 with the error.
"""

import argparse
import glob
import json
import os
import sys

import yaml
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_manifests(folder, base):
    desired = {}
    for name in sorted(glob.glob(os.path.join(folder, "*.yaml"))):
        with open(name, "rb") as f:
            for doc in yaml.load_all(f, Loader=Loader):
                if not doc or doc.get("kind") != "ConfigEntry":
                    continue
                spec = doc["spec"]
                value = json.dumps(spec["value"], sort_keys=True, separators=(",", ":"))
                desired[base + "/" + spec["path"]] = value.encode()
    return desired


def read_tree(zk, root):
    """Every znode below root: path -> (data, stat). Level by level, async."""
    live = {}
    level = [root]
    while level:
        kids = [(p, zk.get_children_async(p)) for p in level]
        nxt = []
        for p, r in kids:
            try:
                nxt.extend(p + "/" + k for k in r.get())
            except NoNodeError:
                pass
        gets = [(p, zk.get_async(p)) for p in nxt]
        level = []
        for p, r in gets:
            try:
                data, stat = r.get()
            except NoNodeError:
                continue
            live[p] = (data, stat)
            if stat.numChildren:
                level.append(p)
    return live


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", default="127.0.0.1:2181")
    ap.add_argument("--root", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    base = args.root.rstrip("/") + "/data/config"
    desired = read_manifests(args.dir, base)

    zk = KazooClient(hosts=args.servers, timeout=30)
    zk.start(timeout=30)
    try:
        zk.ensure_path(base)
        zk.sync(base)
        live = read_tree(zk, base)
        ops, counts = [], {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0}
        made = set()
        for p in sorted(desired):
            want = desired[p]
            if p not in live:
                parents = []
                d = os.path.dirname(p)
                while d != base and d not in made and d not in live:
                    made.add(d)
                    parents.append(d)
                    d = os.path.dirname(d)
                ops.extend(("create", d, b"", -1) for d in reversed(parents))
                ops.append(("create", p, want, -1))
                counts["created"] += 1
            elif live[p][0] != want:
                ops.append(("set", p, want, live[p][1].version))
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        for p, (data, stat) in live.items():
            if p not in desired and stat.numChildren == 0 and data:
                ops.append(("delete", p, None, stat.version))
                counts["deleted"] += 1
        for i in range(0, len(ops), args.batch):
            t = zk.transaction()
            for kind, p, data, version in ops[i : i + args.batch]:
                if kind == "create":
                    t.create(p, data)
                elif kind == "set":
                    t.set_data(p, data, version=version)
                else:
                    t.delete(p, version=version)
            for r in t.commit():
                if isinstance(r, Exception):
                    raise r
        print("%(created)d created, %(updated)d updated, %(deleted)d deleted, %(unchanged)d unchanged" % counts)
    finally:
        zk.stop()
        zk.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line, no traceback: the benchmark reads it
        print("kazoo_sync: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
