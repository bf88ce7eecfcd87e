/*
 * Thin N-API layer over the system liblmdb (Debian's 0.9.x, data format v1).
 *
 * It exposes LMDB calls one by one; the logic (retries, caching of DBI handles, iterators)
 * lives in TypeScript (src/lmdb/). What this file does own is memory safety:
 *   - env, txn and cursor handles are JS externals pointing at small structs that are freed only
 *     when nothing references them any more (refcounts + finalizers), so a stale JS handle can
 *     never dereference freed memory;
 *   - every call checks the liveness of its handle and throws a JS error instead of crashing;
 *   - ending a txn closes its cursors and aborts its child first; closing an env aborts its txns;
 *   - a second top-level write txn in one process is refused (it would deadlock on LMDB's mutex);
 *   - adopting a map size grown by another process is refused while a txn is active.
 * LMDB errors are thrown as Error(mdb_strerror(rc)) with a numeric `lmdbCode` property.
 */
#include <node_api.h>
#include <malloc.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

typedef struct CurH CurH;
typedef struct TxnH TxnH;

#define ENV_MAGIC 0x4c454e56u /* each handle struct starts with a type tag, checked on use */
#define TXN_MAGIC 0x4c54584eu
#define CUR_MAGIC 0x4c435552u

typedef struct EnvH {
  uint32_t magic;
  MDB_env *env; /* NULL once closed */
  int refs;     /* 1 for the JS external + 1 per TxnH struct still allocated */
  TxnH *txns;   /* live (not ended) txns, reset read txns included */
  int write_open;
} EnvH;

struct TxnH {
  uint32_t magic;
  MDB_txn *txn; /* NULL once ended */
  EnvH *env;
  TxnH *parent, *child;
  TxnH *prev, *next; /* in env->txns */
  CurH *curs;        /* open cursors */
  int refs;          /* 1 for the JS external + 1 per CurH struct still allocated */
  int rdonly;
  int reset;
};

struct CurH {
  uint32_t magic;
  MDB_cursor *cur; /* NULL once closed */
  TxnH *txn;       /* kept (with a ref) until the CurH is freed */
  CurH *prev, *next;
  int pending; /* bulk scan: the cursor sits on an entry not yet returned */
};

/* ---------- errors and argument helpers ---------- */

#define CHECK_NAPI(call)                                  \
  do {                                                    \
    if ((call) != napi_ok) {                              \
      throw_plain(env, "lmdb addon: N-API call failed");  \
      return NULL;                                        \
    }                                                     \
  } while (0)

static void throw_plain(napi_env env, const char *msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, msg);
}

static napi_value throw_mdb(napi_env env, int rc) {
  napi_value msg, err, code;
  napi_create_string_utf8(env, mdb_strerror(rc), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &err);
  napi_create_int32(env, rc, &code);
  napi_set_named_property(env, err, "lmdbCode", code);
  napi_throw(env, err);
  return NULL;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value make_bool(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

static napi_value make_num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return true;
  return t == napi_null || t == napi_undefined;
}

static bool get_external(napi_env env, napi_value v, void **out, uint32_t magic) {
  /* napi_get_value_external itself refuses anything that is not an external */
  return napi_get_value_external(env, v, out) == napi_ok && *out != NULL && *(uint32_t *)*out == magic;
}

static bool get_u32(napi_env env, napi_value v, uint32_t *out) {
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

/* A Buffer / Uint8Array argument as an MDB_val (valid only during the call). */
static bool get_val(napi_env env, napi_value v, MDB_val *out) {
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return false;
  out->mv_data = data;
  out->mv_size = len;
  return true;
}

static bool get_u32_array(napi_env env, napi_value v, uint32_t **out, size_t *len) {
  napi_typedarray_type type;
  void *data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, &data, &ab, &off) != napi_ok) return false;
  if (type != napi_uint32_array) return false;
  *out = (uint32_t *)data;
  return true;
}

static napi_value args_n(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    throw_plain(env, "lmdb addon: cannot read arguments");
    return NULL;
  }
  for (size_t i = argc; i < n; i++) napi_get_undefined(env, &argv[i]);
  return argv[0];
}

#define ARGS(n)                                                   \
  napi_value argv[(n) > 0 ? (n) : 1];                             \
  if ((n) > 0 && args_n(env, info, (n), argv) == NULL) return NULL

/* ---------- handle lifetimes ---------- */

static void env_unref(EnvH *e) {
  if (--e->refs == 0) free(e);
}

static void txn_unref(TxnH *t) {
  if (--t->refs == 0) {
    EnvH *e = t->env;
    free(t);
    env_unref(e);
  }
}

static void cursor_close_h(CurH *c) {
  if (!c->cur) return;
  TxnH *t = c->txn;
  mdb_cursor_close(c->cur);
  c->cur = NULL;
  if (c->prev) c->prev->next = c->next; else t->curs = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

static void txn_close_cursors(TxnH *t) {
  while (t->curs) cursor_close_h(t->curs);
}

static void txn_detach(TxnH *t) {
  EnvH *e = t->env;
  if (t->prev) t->prev->next = t->next; else e->txns = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
  if (t->parent) t->parent->child = NULL;
  else if (!t->rdonly) e->write_open = 0;
  t->parent = NULL;
  t->txn = NULL;
}

static void txn_abort_h(TxnH *t) {
  if (!t->txn) return;
  if (t->child) txn_abort_h(t->child);
  txn_close_cursors(t);
  mdb_txn_abort(t->txn);
  txn_detach(t);
}

static void env_close_h(EnvH *e) {
  if (!e->env) return;
  /* Abort top-level txns first (each aborts its children). */
  for (;;) {
    TxnH *t = e->txns;
    while (t && t->parent) t = t->next;
    if (!t) break;
    txn_abort_h(t);
  }
  mdb_env_close(e->env);
  e->env = NULL;
}

static void env_finalize(napi_env env, void *data, void *hint) {
  EnvH *e = (EnvH *)data;
  env_close_h(e);
  env_unref(e);
}

static void txn_finalize(napi_env env, void *data, void *hint) {
  TxnH *t = (TxnH *)data;
  if (t->txn) txn_abort_h(t);
  txn_unref(t);
}

static void cursor_finalize(napi_env env, void *data, void *hint) {
  CurH *c = (CurH *)data;
  TxnH *t = c->txn;
  cursor_close_h(c);
  free(c);
  txn_unref(t);
}

/* The struct behind a handle of the given type, or NULL with a JS error thrown. */
static void *handle_of(napi_env env, napi_value v, uint32_t magic, const char *what) {
  void *p;
  if (!get_external(env, v, &p, magic)) {
    char msg[64];
    snprintf(msg, sizeof msg, "lmdb: expected %s handle", what);
    throw_plain(env, msg);
    return NULL;
  }
  return p;
}

/* Wraps a handle struct in a JS external; on failure releases it with its finalizer. */
static napi_value new_handle(napi_env env, void *p, napi_finalize fin) {
  napi_value ext;
  if (napi_create_external(env, p, fin, NULL, &ext) != napi_ok) {
    fin(env, p, NULL);
    throw_plain(env, "lmdb: cannot create a handle");
    return NULL;
  }
  return ext;
}

static EnvH *arg_env(napi_env env, napi_value v) {
  EnvH *e = handle_of(env, v, ENV_MAGIC, "an env");
  if (!e) return NULL;
  if (!e->env) {
    throw_plain(env, "lmdb: env already closed");
    return NULL;
  }
  return e;
}

static TxnH *arg_txn(napi_env env, napi_value v) {
  TxnH *t = handle_of(env, v, TXN_MAGIC, "a transaction");
  if (!t) return NULL;
  if (!t->txn) {
    throw_plain(env, t->env->env ? "lmdb: transaction already ended" : "lmdb: env closed, transaction ended");
    return NULL;
  }
  if (t->child) {
    throw_plain(env, "lmdb: transaction has an active child transaction");
    return NULL;
  }
  if (t->reset) {
    throw_plain(env, "lmdb: read transaction is reset (renew it first)");
    return NULL;
  }
  return t;
}

static CurH *arg_cursor(napi_env env, napi_value v) {
  CurH *c = handle_of(env, v, CUR_MAGIC, "a cursor");
  if (!c) return NULL;
  if (!c->cur) {
    throw_plain(env, "lmdb: cursor closed (or its transaction ended)");
    return NULL;
  }
  if (c->txn->child) {
    throw_plain(env, "lmdb: cursor's transaction has an active child transaction");
    return NULL;
  }
  return c;
}

static bool arg_dbi(napi_env env, napi_value v, MDB_dbi *dbi) {
  uint32_t d;
  if (!get_u32(env, v, &d)) {
    throw_plain(env, "lmdb: expected a DBI number");
    return false;
  }
  *dbi = d;
  return true;
}

static bool arg_buf(napi_env env, napi_value v, MDB_val *val, const char *what) {
  if (!get_val(env, v, val)) {
    char msg[96];
    snprintf(msg, sizeof msg, "lmdb: %s must be a Buffer or Uint8Array", what);
    throw_plain(env, msg);
    return false;
  }
  return true;
}

static napi_value copy_val(napi_env env, const MDB_val *v) {
  napi_value b;
  void *unused;
  if (napi_create_buffer_copy(env, v->mv_size, v->mv_size ? v->mv_data : "", &unused, &b) != napi_ok) {
    throw_plain(env, "lmdb: cannot allocate a Buffer");
    return NULL;
  }
  return b;
}

static napi_value make_stat(napi_env env, const MDB_stat *st) {
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "pageSize", make_num(env, st->ms_psize));
  napi_set_named_property(env, o, "depth", make_num(env, st->ms_depth));
  napi_set_named_property(env, o, "branchPages", make_num(env, (double)st->ms_branch_pages));
  napi_set_named_property(env, o, "leafPages", make_num(env, (double)st->ms_leaf_pages));
  napi_set_named_property(env, o, "overflowPages", make_num(env, (double)st->ms_overflow_pages));
  napi_set_named_property(env, o, "entries", make_num(env, (double)st->ms_entries));
  return o;
}

/* ---------- env ---------- */

/* envOpen(path, flags, mode, mapSize, maxDbs, maxReaders) */
static napi_value EnvOpen(napi_env env, napi_callback_info info) {
  ARGS(6);
  char path[4096];
  size_t plen;
  uint32_t flags, mode, maxdbs, maxreaders;
  int64_t mapsize;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &plen) != napi_ok || plen >= sizeof path - 1) {
    throw_plain(env, "lmdb: envOpen: path must be a string shorter than 4095 bytes");
    return NULL;
  }
  if (!get_u32(env, argv[1], &flags) || !get_u32(env, argv[2], &mode) ||
      napi_get_value_int64(env, argv[3], &mapsize) != napi_ok || !get_u32(env, argv[4], &maxdbs) ||
      !get_u32(env, argv[5], &maxreaders)) {
    throw_plain(env, "lmdb: envOpen: bad numeric argument");
    return NULL;
  }
  MDB_env *menv;
  int rc = mdb_env_create(&menv);
  if (rc) return throw_mdb(env, rc);
  if (mapsize > 0) rc = mdb_env_set_mapsize(menv, (size_t)mapsize);
  if (!rc) rc = mdb_env_set_maxdbs(menv, maxdbs);
  if (!rc && maxreaders > 0) rc = mdb_env_set_maxreaders(menv, maxreaders);
  if (!rc) rc = mdb_env_open(menv, path, flags, (mdb_mode_t)mode);
  if (rc) {
    mdb_env_close(menv);
    return throw_mdb(env, rc);
  }
  EnvH *e = calloc(1, sizeof *e);
  if (!e) {
    mdb_env_close(menv);
    return throw_mdb(env, ENOMEM);
  }
  e->magic = ENV_MAGIC;
  e->env = menv;
  e->refs = 1;
  return new_handle(env, e, env_finalize);
}

static napi_value EnvClose(napi_env env, napi_callback_info info) {
  ARGS(1);
  EnvH *e = handle_of(env, argv[0], ENV_MAGIC, "an env");
  if (!e) return NULL;
  env_close_h(e);
  return undefined(env);
}

static napi_value EnvInfo(napi_env env, napi_callback_info info) {
  ARGS(1);
  EnvH *e = arg_env(env, argv[0]);
  if (!e) return NULL;
  MDB_envinfo ei;
  int rc = mdb_env_info(e->env, &ei);
  if (rc) return throw_mdb(env, rc);
  napi_value o;
  CHECK_NAPI(napi_create_object(env, &o));
  napi_set_named_property(env, o, "lastTxnId", make_num(env, (double)ei.me_last_txnid));
  napi_set_named_property(env, o, "mapSize", make_num(env, (double)ei.me_mapsize));
  napi_set_named_property(env, o, "lastPageNo", make_num(env, (double)ei.me_last_pgno));
  napi_set_named_property(env, o, "maxReaders", make_num(env, ei.me_maxreaders));
  napi_set_named_property(env, o, "numReaders", make_num(env, ei.me_numreaders));
  return o;
}

/*
 * envReleaseMap(env) -> bytes: drops this process's page-table entries for the mappings of the env's
 * data file (madvise MADV_DONTNEED), so a scan of a large LMDB does not leave the whole file counted in
 * our RSS (and in the OOM killer's view of us). Only read-only shared mappings of exactly that file
 * (same device and inode in /proc/self/maps) are touched: they hold no private data, the pages stay in
 * the page cache that the application shares, and the next access maps them again. Returns the bytes of
 * the mappings released; 0 when there are none (or the env maps its file writable, MDB_WRITEMAP). Where the
 * kernel names a mapping by another device or inode than fstat reports (overlayfs), nothing matches and nothing
 * is released: the only cost is the RSS this would have saved.
 */
static napi_value EnvReleaseMap(napi_env env, napi_callback_info info) {
  ARGS(1);
  EnvH *e = arg_env(env, argv[0]);
  if (!e) return NULL;
  unsigned int flags;
  mdb_filehandle_t fd;
  struct stat st;
  if (mdb_env_get_flags(e->env, &flags) || (flags & MDB_WRITEMAP) || mdb_env_get_fd(e->env, &fd) || fstat(fd, &st))
    return make_num(env, 0);
  FILE *maps = fopen("/proc/self/maps", "re");
  if (!maps) return make_num(env, 0);
  char line[512];
  int at_line_start = 1;
  double released = 0;
  while (fgets(line, sizeof line, maps)) {
    int starts_line = at_line_start;
    at_line_start = strchr(line, '\n') != NULL; /* a longer line arrives in pieces: parse only its start */
    unsigned long lo, hi, offset, inode;
    unsigned int dev_major, dev_minor;
    char perms[8];
    if (!starts_line ||
        sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms, &offset, &dev_major, &dev_minor, &inode) != 7)
      continue;
    if (inode != (unsigned long)st.st_ino || dev_major != major(st.st_dev) || dev_minor != minor(st.st_dev)) continue;
    if (strlen(perms) != 4 || perms[1] != '-' || perms[3] != 's' || hi <= lo) continue;
    if (madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0) released += (double)(hi - lo);
  }
  fclose(maps);
  return make_num(env, released);
}

static napi_value EnvStat(napi_env env, napi_callback_info info) {
  ARGS(1);
  EnvH *e = arg_env(env, argv[0]);
  if (!e) return NULL;
  MDB_stat st;
  int rc = mdb_env_stat(e->env, &st);
  if (rc) return throw_mdb(env, rc);
  return make_stat(env, &st);
}

/* envSetMapSize(env, size): size 0 adopts the size recorded by the process that grew the map. */
static napi_value EnvSetMapSize(napi_env env, napi_callback_info info) {
  ARGS(2);
  EnvH *e = arg_env(env, argv[0]);
  if (!e) return NULL;
  int64_t size;
  if (napi_get_value_int64(env, argv[1], &size) != napi_ok || size < 0) {
    throw_plain(env, "lmdb: envSetMapSize: bad size");
    return NULL;
  }
  for (TxnH *t = e->txns; t; t = t->next) {
    if (!t->reset) {
      throw_plain(env, "lmdb: cannot change the map size while a transaction of this env is open in this process");
      return NULL;
    }
  }
  int rc = mdb_env_set_mapsize(e->env, (size_t)size);
  if (rc) return throw_mdb(env, rc);
  return undefined(env);
}

static napi_value EnvSync(napi_env env, napi_callback_info info) {
  ARGS(2);
  EnvH *e = arg_env(env, argv[0]);
  if (!e) return NULL;
  bool force = false;
  napi_get_value_bool(env, argv[1], &force);
  int rc = mdb_env_sync(e->env, force ? 1 : 0);
  if (rc) return throw_mdb(env, rc);
  return undefined(env);
}

static napi_value EnvReaderCheck(napi_env env, napi_callback_info info) {
  ARGS(1);
  EnvH *e = arg_env(env, argv[0]);
  if (!e) return NULL;
  int dead = 0;
  int rc = mdb_reader_check(e->env, &dead);
  if (rc) return throw_mdb(env, rc);
  return make_num(env, dead);
}

static napi_value EnvMaxKeySize(napi_env env, napi_callback_info info) {
  ARGS(1);
  EnvH *e = arg_env(env, argv[0]);
  if (!e) return NULL;
  return make_num(env, mdb_env_get_maxkeysize(e->env));
}

/* ---------- txn ---------- */

/* txnBegin(env, parentTxn | null, flags) */
static napi_value TxnBegin(napi_env env, napi_callback_info info) {
  ARGS(3);
  EnvH *e = arg_env(env, argv[0]);
  if (!e) return NULL;
  TxnH *parent = NULL;
  if (!is_nullish(env, argv[1])) {
    parent = arg_txn(env, argv[1]);
    if (!parent) return NULL;
    if (parent->env != e) {
      throw_plain(env, "lmdb: parent transaction belongs to another env");
      return NULL;
    }
    if (parent->rdonly) {
      throw_plain(env, "lmdb: nested transactions need a write parent");
      return NULL;
    }
  }
  uint32_t flags;
  if (!get_u32(env, argv[2], &flags)) {
    throw_plain(env, "lmdb: txnBegin: bad flags");
    return NULL;
  }
  int rdonly = (flags & MDB_RDONLY) != 0;
  if (!parent && !rdonly && e->write_open) {
    throw_plain(env, "lmdb: a write transaction is already open on this env in this process");
    return NULL;
  }
  MDB_txn *txn;
  int rc = mdb_txn_begin(e->env, parent ? parent->txn : NULL, flags, &txn);
  if (rc) return throw_mdb(env, rc);
  TxnH *t = calloc(1, sizeof *t);
  if (!t) {
    mdb_txn_abort(txn);
    return throw_mdb(env, ENOMEM);
  }
  t->magic = TXN_MAGIC;
  t->txn = txn;
  t->env = e;
  t->refs = 1;
  t->rdonly = rdonly;
  t->parent = parent;
  if (parent) parent->child = t;
  else if (!rdonly) e->write_open = 1;
  t->next = e->txns;
  if (e->txns) e->txns->prev = t;
  e->txns = t;
  e->refs++;
  return new_handle(env, t, txn_finalize);
}

static napi_value TxnCommit(napi_env env, napi_callback_info info) {
  ARGS(1);
  TxnH *t = arg_txn(env, argv[0]);
  if (!t) return NULL;
  txn_close_cursors(t);
  int rc = mdb_txn_commit(t->txn); /* frees the txn even on failure */
  txn_detach(t);
  if (rc) return throw_mdb(env, rc);
  return undefined(env);
}

static napi_value TxnAbort(napi_env env, napi_callback_info info) {
  ARGS(1);
  TxnH *t = handle_of(env, argv[0], TXN_MAGIC, "a transaction");
  if (!t) return NULL;
  txn_abort_h(t); /* no-op when already ended */
  return undefined(env);
}

static napi_value TxnReset(napi_env env, napi_callback_info info) {
  ARGS(1);
  TxnH *t = arg_txn(env, argv[0]);
  if (!t) return NULL;
  if (!t->rdonly) {
    throw_plain(env, "lmdb: only read transactions can be reset");
    return NULL;
  }
  txn_close_cursors(t);
  mdb_txn_reset(t->txn);
  t->reset = 1;
  return undefined(env);
}

static napi_value TxnRenew(napi_env env, napi_callback_info info) {
  ARGS(1);
  TxnH *t;
  if (!get_external(env, argv[0], (void **)&t, TXN_MAGIC) || !t->txn || !t->reset) {
    throw_plain(env, "lmdb: only a reset read transaction can be renewed");
    return NULL;
  }
  int rc = mdb_txn_renew(t->txn);
  if (rc) return throw_mdb(env, rc); /* stays reset; may be renewed again */
  t->reset = 0;
  return undefined(env);
}

static napi_value TxnId(napi_env env, napi_callback_info info) {
  ARGS(1);
  TxnH *t = arg_txn(env, argv[0]);
  if (!t) return NULL;
  return make_num(env, (double)mdb_txn_id(t->txn));
}

/* ---------- DBIs ---------- */

/* dbiOpen(txn, name | null, flags) -> [dbi, persistentFlags] | null when absent */
static napi_value DbiOpen(napi_env env, napi_callback_info info) {
  ARGS(3);
  TxnH *t = arg_txn(env, argv[0]);
  if (!t) return NULL;
  char name[512];
  size_t nlen = 0;
  bool has_name = !is_nullish(env, argv[1]);
  if (has_name && (napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen) != napi_ok ||
                   nlen >= sizeof name - 1)) {
    throw_plain(env, "lmdb: DBI name must be a string shorter than 511 bytes");
    return NULL;
  }
  if (has_name && strlen(name) != nlen) {
    throw_plain(env, "lmdb: DBI name must not contain NUL");
    return NULL;
  }
  uint32_t flags;
  if (!get_u32(env, argv[2], &flags)) {
    throw_plain(env, "lmdb: dbiOpen: bad flags");
    return NULL;
  }
  MDB_dbi dbi;
  int rc = mdb_dbi_open(t->txn, has_name ? name : NULL, flags, &dbi);
  if (rc == MDB_NOTFOUND) {
    napi_value n;
    napi_get_null(env, &n);
    return n;
  }
  if (rc) return throw_mdb(env, rc);
  unsigned int dflags = 0;
  rc = mdb_dbi_flags(t->txn, dbi, &dflags);
  if (rc) return throw_mdb(env, rc);
  napi_value arr;
  CHECK_NAPI(napi_create_array_with_length(env, 2, &arr));
  napi_set_element(env, arr, 0, make_num(env, dbi));
  napi_set_element(env, arr, 1, make_num(env, dflags));
  return arr;
}

static napi_value DbiStat(napi_env env, napi_callback_info info) {
  ARGS(2);
  TxnH *t = arg_txn(env, argv[0]);
  MDB_dbi dbi;
  if (!t || !arg_dbi(env, argv[1], &dbi)) return NULL;
  MDB_stat st;
  int rc = mdb_stat(t->txn, dbi, &st);
  if (rc) return throw_mdb(env, rc);
  return make_stat(env, &st);
}

/* drop(txn, dbi, del): del=true deletes the DBI and closes its handle. */
static napi_value Drop(napi_env env, napi_callback_info info) {
  ARGS(3);
  TxnH *t = arg_txn(env, argv[0]);
  MDB_dbi dbi;
  if (!t || !arg_dbi(env, argv[1], &dbi)) return NULL;
  bool del = false;
  napi_get_value_bool(env, argv[2], &del);
  /* Cursors on this DBI would dangle after a delete: close this txn's cursors on it. */
  for (CurH *c = t->curs, *n; c; c = n) {
    n = c->next;
    if (mdb_cursor_dbi(c->cur) == dbi) cursor_close_h(c);
  }
  int rc = mdb_drop(t->txn, dbi, del ? 1 : 0);
  if (rc) return throw_mdb(env, rc);
  return undefined(env);
}

/* ---------- data ---------- */

static napi_value Get(napi_env env, napi_callback_info info) {
  ARGS(3);
  TxnH *t = arg_txn(env, argv[0]);
  MDB_dbi dbi;
  MDB_val k, v;
  if (!t || !arg_dbi(env, argv[1], &dbi) || !arg_buf(env, argv[2], &k, "key")) return NULL;
  int rc = mdb_get(t->txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return undefined(env);
  if (rc) return throw_mdb(env, rc);
  return copy_val(env, &v);
}

/* getInto(txn, dbi, key, out) -> value length, -1 when absent; copies only when it fits. */
static napi_value GetInto(napi_env env, napi_callback_info info) {
  ARGS(4);
  TxnH *t = arg_txn(env, argv[0]);
  MDB_dbi dbi;
  MDB_val k, v, out;
  if (!t || !arg_dbi(env, argv[1], &dbi) || !arg_buf(env, argv[2], &k, "key") ||
      !arg_buf(env, argv[3], &out, "output buffer"))
    return NULL;
  int rc = mdb_get(t->txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return make_num(env, -1);
  if (rc) return throw_mdb(env, rc);
  if (v.mv_size <= out.mv_size && v.mv_size) memcpy(out.mv_data, v.mv_data, v.mv_size);
  return make_num(env, (double)v.mv_size);
}

/* put(txn, dbi, key, value, flags) -> false when MDB_KEYEXIST (NOOVERWRITE / NODUPDATA) */
static napi_value Put(napi_env env, napi_callback_info info) {
  ARGS(5);
  TxnH *t = arg_txn(env, argv[0]);
  MDB_dbi dbi;
  MDB_val k, v;
  uint32_t flags = 0;
  if (!t || !arg_dbi(env, argv[1], &dbi) || !arg_buf(env, argv[2], &k, "key") ||
      !arg_buf(env, argv[3], &v, "value"))
    return NULL;
  if (!is_nullish(env, argv[4])) get_u32(env, argv[4], &flags);
  int rc = mdb_put(t->txn, dbi, &k, &v, flags);
  if (rc == MDB_KEYEXIST) return make_bool(env, false);
  if (rc) return throw_mdb(env, rc);
  return make_bool(env, true);
}

/* del(txn, dbi, key, value | null) -> false when not found */
static napi_value Del(napi_env env, napi_callback_info info) {
  ARGS(4);
  TxnH *t = arg_txn(env, argv[0]);
  MDB_dbi dbi;
  MDB_val k, v;
  if (!t || !arg_dbi(env, argv[1], &dbi) || !arg_buf(env, argv[2], &k, "key")) return NULL;
  bool has_v = !is_nullish(env, argv[3]);
  if (has_v && !arg_buf(env, argv[3], &v, "value")) return NULL;
  int rc = mdb_del(t->txn, dbi, &k, has_v ? &v : NULL);
  if (rc == MDB_NOTFOUND) return make_bool(env, false);
  if (rc) return throw_mdb(env, rc);
  return make_bool(env, true);
}

/*
 * putBatch(txn, dbi, buf, keyOff, keyLen, valOff, valLen, count, flags) -> entries written.
 * Entries refused with MDB_KEYEXIST are skipped; any other error throws with `batchIndex`.
 */
static napi_value PutBatch(napi_env env, napi_callback_info info) {
  ARGS(9);
  TxnH *t = arg_txn(env, argv[0]);
  MDB_dbi dbi;
  MDB_val buf;
  uint32_t *ko, *kl, *vo, *vl, count, flags = 0;
  size_t n1, n2, n3, n4;
  if (!t || !arg_dbi(env, argv[1], &dbi) || !arg_buf(env, argv[2], &buf, "batch buffer")) return NULL;
  if (!get_u32_array(env, argv[3], &ko, &n1) || !get_u32_array(env, argv[4], &kl, &n2) ||
      !get_u32_array(env, argv[5], &vo, &n3) || !get_u32_array(env, argv[6], &vl, &n4) ||
      !get_u32(env, argv[7], &count)) {
    throw_plain(env, "lmdb: putBatch: offsets and lengths must be Uint32Arrays");
    return NULL;
  }
  if (!is_nullish(env, argv[8])) get_u32(env, argv[8], &flags);
  if (count > n1 || count > n2 || count > n3 || count > n4) {
    throw_plain(env, "lmdb: putBatch: count exceeds the offset/length arrays");
    return NULL;
  }
  const char *base = (const char *)buf.mv_data;
  uint32_t written = 0;
  for (uint32_t i = 0; i < count; i++) {
    if ((uint64_t)ko[i] + kl[i] > buf.mv_size || (uint64_t)vo[i] + vl[i] > buf.mv_size) {
      throw_plain(env, "lmdb: putBatch: an entry lies outside the batch buffer");
      return NULL;
    }
    MDB_val k = {kl[i], (void *)(base + ko[i])};
    MDB_val v = {vl[i], (void *)(base + vo[i])};
    int rc = mdb_put(t->txn, dbi, &k, &v, flags);
    if (rc == MDB_KEYEXIST) continue;
    if (rc) {
      napi_value msg, err, code, idx;
      napi_create_string_utf8(env, mdb_strerror(rc), NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &err);
      napi_create_int32(env, rc, &code);
      napi_create_uint32(env, i, &idx);
      napi_set_named_property(env, err, "lmdbCode", code);
      napi_set_named_property(env, err, "batchIndex", idx);
      napi_throw(env, err);
      return NULL;
    }
    written++;
  }
  return make_num(env, written);
}

/* ---------- cursors ---------- */

static napi_value CursorOpen(napi_env env, napi_callback_info info) {
  ARGS(2);
  TxnH *t = arg_txn(env, argv[0]);
  MDB_dbi dbi;
  if (!t || !arg_dbi(env, argv[1], &dbi)) return NULL;
  MDB_cursor *mc;
  int rc = mdb_cursor_open(t->txn, dbi, &mc);
  if (rc) return throw_mdb(env, rc);
  CurH *c = calloc(1, sizeof *c);
  if (!c) {
    mdb_cursor_close(mc);
    return throw_mdb(env, ENOMEM);
  }
  c->magic = CUR_MAGIC;
  c->cur = mc;
  c->txn = t;
  t->refs++;
  c->next = t->curs;
  if (t->curs) t->curs->prev = c;
  t->curs = c;
  return new_handle(env, c, cursor_finalize);
}

static napi_value CursorClose(napi_env env, napi_callback_info info) {
  ARGS(1);
  CurH *c = handle_of(env, argv[0], CUR_MAGIC, "a cursor");
  if (!c) return NULL;
  cursor_close_h(c);
  return undefined(env);
}

/* cursorGet(cursor, op, key | null, value | null) -> { key, value } | undefined (MDB_NOTFOUND) */
static napi_value CursorGet(napi_env env, napi_callback_info info) {
  ARGS(4);
  CurH *c = arg_cursor(env, argv[0]);
  uint32_t op;
  if (!c) return NULL;
  if (!get_u32(env, argv[1], &op) || op > MDB_PREV_MULTIPLE) {
    throw_plain(env, "lmdb: cursorGet: bad cursor op");
    return NULL;
  }
  MDB_val k = {0, NULL}, v = {0, NULL};
  if (!is_nullish(env, argv[2]) && !arg_buf(env, argv[2], &k, "key")) return NULL;
  if (!is_nullish(env, argv[3]) && !arg_buf(env, argv[3], &v, "value")) return NULL;
  c->pending = 0;
  int rc = mdb_cursor_get(c->cur, &k, &v, (MDB_cursor_op)op);
  if (rc == MDB_NOTFOUND) return undefined(env);
  if (rc) return throw_mdb(env, rc);
  napi_value o, kb, vb;
  if (!(kb = copy_val(env, &k)) || !(vb = copy_val(env, &v))) return NULL;
  CHECK_NAPI(napi_create_object(env, &o));
  napi_set_named_property(env, o, "key", kb);
  napi_set_named_property(env, o, "value", vb);
  return o;
}

static napi_value CursorPut(napi_env env, napi_callback_info info) {
  ARGS(4);
  CurH *c = arg_cursor(env, argv[0]);
  MDB_val k, v;
  uint32_t flags = 0;
  if (!c || !arg_buf(env, argv[1], &k, "key") || !arg_buf(env, argv[2], &v, "value")) return NULL;
  if (!is_nullish(env, argv[3])) get_u32(env, argv[3], &flags);
  c->pending = 0;
  int rc = mdb_cursor_put(c->cur, &k, &v, flags);
  if (rc == MDB_KEYEXIST) return make_bool(env, false);
  if (rc) return throw_mdb(env, rc);
  return make_bool(env, true);
}

static napi_value CursorDel(napi_env env, napi_callback_info info) {
  ARGS(2);
  CurH *c = arg_cursor(env, argv[0]);
  uint32_t flags = 0;
  if (!c) return NULL;
  if (!is_nullish(env, argv[1])) get_u32(env, argv[1], &flags);
  c->pending = 0;
  int rc = mdb_cursor_del(c->cur, flags);
  if (rc) return throw_mdb(env, rc);
  return undefined(env);
}

static napi_value CursorCount(napi_env env, napi_callback_info info) {
  ARGS(1);
  CurH *c = arg_cursor(env, argv[0]);
  if (!c) return NULL;
  size_t n;
  int rc = mdb_cursor_count(c->cur, &n);
  if (rc) return throw_mdb(env, rc);
  return make_num(env, (double)n);
}

#define ALIGN4(x) (((x) + 3u) & ~(size_t)3u)

/*
 * cursorScan(cursor, buf, mode, key | null, valuePrefix?) -> n >= 0 records, or -needed when the first entry
 * does not fit in buf (the cursor then stays on it; call again with a bigger buffer, mode 0).
 * mode 0: continue after the last entry returned; 1: from the first entry; 2: from SET_RANGE(key).
 * Records, 4-byte aligned: u32 keyLen, u32 valLen (native endian), key, pad, value, pad.
 * With valuePrefix, only the first min(valLen, valuePrefix) bytes of each value are copied (valLen
 * stays the value's length): a pass that needs lengths and value headers copies a fraction.
 * n == 0 means the end. Every duplicate of a DUPSORT DBI is returned (MDB_NEXT).
 */
static napi_value CursorScan(napi_env env, napi_callback_info info) {
  ARGS(5);
  CurH *c = arg_cursor(env, argv[0]);
  MDB_val out, k = {0, NULL}, v;
  uint32_t mode, prefix = UINT32_MAX;
  napi_valuetype prefix_type;
  if (!c || !arg_buf(env, argv[1], &out, "scan buffer")) return NULL;
  if (!get_u32(env, argv[2], &mode) || mode > 2) {
    throw_plain(env, "lmdb: cursorScan: bad mode");
    return NULL;
  }
  if (napi_typeof(env, argv[4], &prefix_type) != napi_ok) return NULL;
  if (prefix_type != napi_undefined && !get_u32(env, argv[4], &prefix)) {
    throw_plain(env, "lmdb: cursorScan: bad value prefix");
    return NULL;
  }
  if (mode == 2 && !arg_buf(env, argv[3], &k, "start key")) return NULL;
  if (((uintptr_t)out.mv_data & 3) != 0) {
    throw_plain(env, "lmdb: cursorScan: buffer must be 4-byte aligned");
    return NULL;
  }
  MDB_cursor_op op = mode == 1 ? MDB_FIRST : mode == 2 ? MDB_SET_RANGE : c->pending ? MDB_GET_CURRENT : MDB_NEXT;
  char *p = (char *)out.mv_data;
  size_t used = 0, cap = out.mv_size;
  uint32_t n = 0;
  for (;;) {
    int rc = mdb_cursor_get(c->cur, &k, &v, op);
    if (rc == MDB_NOTFOUND) {
      c->pending = 0;
      break;
    }
    if (rc) return throw_mdb(env, rc);
    size_t copied = v.mv_size < prefix ? v.mv_size : prefix;
    size_t need = 8 + ALIGN4(k.mv_size) + ALIGN4(copied);
    if (used + need > cap) {
      c->pending = 1;
      if (n == 0) return make_num(env, -(double)need);
      break;
    }
    uint32_t kl = (uint32_t)k.mv_size, vl = (uint32_t)v.mv_size;
    memcpy(p + used, &kl, 4);
    memcpy(p + used + 4, &vl, 4);
    memcpy(p + used + 8, k.mv_data, kl);
    if (copied) memcpy(p + used + 8 + ALIGN4(kl), v.mv_data, copied);
    used += need;
    n++;
    c->pending = 0;
    op = MDB_NEXT;
  }
  return make_num(env, n);
}

/* ---------- misc ---------- */

static napi_value StrError(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t code;
  if (napi_get_value_int32(env, argv[0], &code) != napi_ok) code = 0;
  napi_value s;
  napi_create_string_utf8(env, mdb_strerror(code), NAPI_AUTO_LENGTH, &s);
  return s;
}

/* mallocOption(param, value) -> bool: glibc's mallopt, for the process's allocator settings (see src/lmdb/malloc.ts). */
static napi_value MallocOption(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t param, value;
  if (napi_get_value_int32(env, argv[0], &param) != napi_ok || napi_get_value_int32(env, argv[1], &value) != napi_ok) {
    throw_plain(env, "lmdb addon: mallocOption(param, value) takes two integers");
    return NULL;
  }
  return make_bool(env, mallopt(param, value) == 1);
}

static napi_value Version(napi_env env, napi_callback_info info) {
  napi_value s;
  napi_create_string_utf8(env, mdb_version(NULL, NULL, NULL), NAPI_AUTO_LENGTH, &s);
  return s;
}

#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default_jsproperty, NULL}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      FN("envOpen", EnvOpen),       FN("envClose", EnvClose),
      FN("envInfo", EnvInfo),       FN("envReleaseMap", EnvReleaseMap),       FN("envStat", EnvStat),
      FN("envSetMapSize", EnvSetMapSize), FN("envSync", EnvSync),
      FN("envReaderCheck", EnvReaderCheck), FN("envMaxKeySize", EnvMaxKeySize),
      FN("txnBegin", TxnBegin),     FN("txnCommit", TxnCommit),
      FN("txnAbort", TxnAbort),     FN("txnReset", TxnReset),
      FN("txnRenew", TxnRenew),     FN("txnId", TxnId),
      FN("dbiOpen", DbiOpen),       FN("dbiStat", DbiStat),
      FN("drop", Drop),             FN("get", Get),
      FN("getInto", GetInto),       FN("put", Put),
      FN("del", Del),               FN("putBatch", PutBatch),
      FN("cursorOpen", CursorOpen), FN("cursorClose", CursorClose),
      FN("cursorGet", CursorGet),   FN("cursorPut", CursorPut),
      FN("cursorDel", CursorDel),   FN("cursorCount", CursorCount),
      FN("cursorScan", CursorScan), FN("strerror", StrError),
      FN("version", Version),
      FN("mallocOption", MallocOption),
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
