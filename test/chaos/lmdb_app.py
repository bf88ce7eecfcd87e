#!/usr/bin/python3
"""A native-mode Lightning Stream "application" for the chaos tests, independent of the engine.

Run with Debian's /usr/bin/python3 (python3-lmdb). Reads JSON-lines commands on stdin, answers one
JSON line per command on stdout ({"id": <id>, "ok": true, ...} or {"id": <id>, "ok": false, "error": ...}).
Commands (every command carries "id" and, except "quit", "path" = the LMDB directory):

  {"cmd": "apply", "dbis": {name: "plain"|"int4"|"int8"}, "ops": [op, ...]}
      Applies the ops in ONE write transaction. op = {"d": dbi, "k": key hex, "t": ts (decimal string),
      "v": value hex or null (= deletion), "x": number of 8-byte extension blocks, "h": "zero"|"rand"|"real"
      (what goes into the header's txn id field)}. An op is applied only if it beats the entry the LMDB
      already holds for that key under the merge order (higher ts; equal ts: lower value bytes; equal
      value: deletion first). An application that stamps its writes with the current time always
      does; here timestamps are forced (equal across instances, sometimes older), so an op that would
      lose anyway is skipped instead of overwriting a newer merged entry (which no merge could undo).
      Answers {"applied": [indexes of applied ops], "txn": txn id}.
  {"cmd": "dump"}        every entry of every DBI not starting with "_sync":
                         {"entries": [[dbi, key hex, ts string, deleted, value hex], ...], "digest": sha256}
  {"cmd": "digest"}      the same digest and the entry count, without the entries.
  {"cmd": "integrity", "dbis": {name: kind}}
                         walks every DBI (key order, key sizes, headers, the DBIs' INTEGERKEY flag),
                         runs mdb_stat -a and mdb_dump -a;
                         {"errors": [...], "dbis": {name: count}, "entries": total}
  {"cmd": "close"}       closes the env (before the test removes its files).
  {"cmd": "quit"}
"""
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import traceback

import lmdb

MAP_SIZE = 1 << 30
MAX_DBS = 64
HEADER = 24
DELETED = 0x01

envs = {}      # path -> lmdb.Environment
handles = {}   # (path, dbi name) -> _Database
rng = random.Random(int.from_bytes(os.urandom(8), 'big'))


def env_for(path):
    env = envs.get(path)
    if env is None:
        env = lmdb.open(path, map_size=MAP_SIZE, max_dbs=MAX_DBS, subdir=True, create=True)
        envs[path] = env
    return env


def dbi_for(path, env, name, kind=None, txn=None):
    key = (path, name)
    db = handles.get(key)
    if db is None:
        if kind is None:
            db = env.open_db(name.encode(), txn=txn, create=False)
        else:
            db = env.open_db(name.encode(), txn=txn, create=True, integerkey=(kind in ('int4', 'int8')))
        handles[key] = db
    return db


def parse_value(raw):
    """(ts, deleted, value, n_ext) of a native value, or raises ValueError."""
    if len(raw) < HEADER:
        raise ValueError('value shorter than the 24-byte header (%d bytes)' % len(raw))
    ts, _txn = struct.unpack('>QQ', raw[0:16])
    version = raw[16]
    flags = raw[17]
    n_ext = struct.unpack('>H', raw[22:24])[0]
    if version != 0:
        raise ValueError('header version %d' % version)
    if flags & ~DELETED:
        raise ValueError('header flags 0x%02x' % flags)
    if raw[18:22] != b'\0\0\0\0':
        raise ValueError('reserved header bytes not zero: %s' % raw[18:22].hex())
    if len(raw) < HEADER + 8 * n_ext:
        raise ValueError('value too short for %d extension blocks (%d bytes)' % (n_ext, len(raw)))
    value = bytes(raw[HEADER + 8 * n_ext:])
    deleted = bool(flags & DELETED)
    if deleted and value:
        raise ValueError('deleted entry with a %d-byte value' % len(value))
    return ts, deleted, value, n_ext


def beats(a, b):
    """Merge order: does entry a = (ts, deleted, value) win over entry b?"""
    if a[0] != b[0]:
        return a[0] > b[0]
    if a[2] != b[2]:
        return a[2] < b[2]
    return a[1] and not b[1]


def build_value(ts, txn_id, deleted, value, n_ext):
    hdr = struct.pack('>QQBBIH', ts, txn_id & 0xFFFFFFFFFFFFFFFF, 0, DELETED if deleted else 0, 0, n_ext)
    ext = bytes(rng.getrandbits(8) for _ in range(8 * n_ext))
    return hdr + ext + value


def cmd_apply(msg):
    path = msg['path']
    env = env_for(path)
    kinds = msg.get('dbis', {})
    applied = []
    before = set(handles)
    try:
        return apply_ops(path, env, kinds, msg, applied)
    except Exception:
        for key in set(handles) - before:  # handles opened in an aborted txn are invalid
            del handles[key]
        raise


def apply_ops(path, env, kinds, msg, applied):
    with env.begin(write=True) as txn:
        real_id = txn.id()
        for i, op in enumerate(msg['ops']):
            name = op['d']
            db = dbi_for(path, env, name, kinds.get(name, 'plain'), txn=txn)
            key = bytes.fromhex(op['k'])
            ts = int(op['t'])
            deleted = op['v'] is None
            value = b'' if deleted else bytes.fromhex(op['v'])
            old = txn.get(key, db=db)
            if old is not None:
                ots, odel, oval, _ = parse_value(old)
                if not beats((ts, deleted, value), (ots, odel, oval)):
                    continue
            h = op.get('h', 'zero')
            txn_id = 0 if h == 'zero' else real_id if h == 'real' else rng.getrandbits(64)
            txn.put(key, build_value(ts, txn_id, deleted, value, int(op.get('x', 0))), db=db)
            applied.append(i)
    return {'applied': applied, 'txn': real_id}


def app_dbi_names(env, txn):
    names = []
    for k, _ in txn.cursor():
        names.append(bytes(k).decode('utf-8', 'replace'))
    return names


def collect(path, errors=None, kinds=None):
    """All entries of the non-_sync DBIs in LMDB order (one read txn), and per-DBI counts.
    With errors (a list), also checks key order, key sizes and every header of every DBI, and that
    the DBIs named in kinds ({name: "plain"|"int4"|"int8"}) have the expected MDB_INTEGERKEY flag."""
    env = env_for(path)
    with env.begin() as txn:
        names = app_dbi_names(env, txn)
    dbs = []
    for name in names:
        if errors is None and name.startswith('_sync'):
            continue
        try:
            dbs.append((name, dbi_for(path, env, name)))
        except lmdb.Error as e:
            if errors is not None:
                errors.append('%s: cannot open DBI: %s' % (name, e))
    entries = []
    counts = {}
    with env.begin() as txn:
        for name, db in dbs:
            flags = db.flags(txn)
            if flags['dupsort'] or flags['reverse_key']:
                if errors is not None:
                    errors.append('%s: unexpected DBI flags %r' % (name, flags))
            integer = flags['integerkey']
            prev = prev_key = size = None
            kind = (kinds or {}).get(name)
            if errors is not None and kind is not None:
                if integer != (kind != 'plain'):
                    errors.append('%s: expected a %s DBI, found flags %r' % (name, kind, flags))
                if kind != 'plain':
                    size = 4 if kind == 'int4' else 8
            n = 0
            for k, v in txn.cursor(db):
                k = bytes(k)
                n += 1
                if errors is not None:
                    if integer:
                        if len(k) not in (4, 8):
                            errors.append('%s: INTEGERKEY key of %d bytes: %s' % (name, len(k), k.hex()))
                        if size is None:
                            size = len(k)
                        elif len(k) != size:
                            errors.append('%s: INTEGERKEY keys of mixed sizes (%d, %d)' % (name, size, len(k)))
                        order = int.from_bytes(k, 'little')
                    else:
                        if not 1 <= len(k) <= 511:
                            errors.append('%s: key of %d bytes' % (name, len(k)))
                        order = k
                    if prev is not None and not prev < order:
                        errors.append('%s: keys out of order: %s after %s' % (name, k.hex(), prev_key.hex()))
                    prev, prev_key = order, k
                if name.startswith('_sync'):
                    continue  # private DBIs (shadow mode) hold no application values
                try:
                    ts, deleted, value, _ = parse_value(bytes(v))
                except ValueError as e:
                    if errors is not None:
                        errors.append('%s/%s: %s' % (name, k.hex(), e))
                    continue
                entries.append([name, k.hex(), str(ts), deleted, value.hex()])
            counts[name] = n
    return entries, counts


def digest_of(entries):
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: (e[0], e[1])):
        h.update(('%s|%s|%s|%d|%s\n' % (e[0], e[1], e[2], 1 if e[3] else 0, e[4])).encode())
    return h.hexdigest()


def cmd_dump(msg, with_entries=True):
    entries, counts = collect(msg['path'])
    out = {'digest': digest_of(entries), 'count': len(entries)}
    if with_entries:
        out['entries'] = entries
    return out


def cmd_integrity(msg):
    path = msg['path']
    errors = []
    entries, counts = collect(path, errors, msg.get('dbis'))
    for name in msg.get('dbis', {}):
        if name not in counts:
            errors.append('%s: DBI missing' % name)
    for tool in (['mdb_stat', '-a', '-e', '-f'], ['mdb_dump', '-a']):
        r = subprocess.run(tool + [path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            errors.append('%s failed (%d): %s' % (' '.join(tool), r.returncode, r.stderr.decode(errors='replace')[-500:]))
    return {'errors': errors, 'dbis': counts, 'entries': len(entries)}


def cmd_close(msg):
    path = msg['path']
    env = envs.pop(path, None)
    for key in [k for k in handles if k[0] == path]:
        del handles[key]
    if env is not None:
        env.close()
    return {}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        msg = json.loads(line)
        mid = msg.get('id')
        try:
            cmd = msg['cmd']
            if cmd == 'quit':
                for p in list(envs):
                    cmd_close({'path': p})
                print(json.dumps({'id': mid, 'ok': True}), flush=True)
                return
            elif cmd == 'apply':
                out = cmd_apply(msg)
            elif cmd == 'dump':
                out = cmd_dump(msg)
            elif cmd == 'digest':
                out = cmd_dump(msg, with_entries=False)
            elif cmd == 'integrity':
                out = cmd_integrity(msg)
            elif cmd == 'close':
                out = cmd_close(msg)
            else:
                raise ValueError('unknown command %r' % cmd)
            out['id'] = mid
            out['ok'] = True
        except Exception as e:  # answer, never die: the test decides what an error means
            out = {'id': mid, 'ok': False, 'error': '%s: %s' % (type(e).__name__, e), 'trace': traceback.format_exc()[-2000:]}
        print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
