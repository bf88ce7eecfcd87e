/*
 * Another process using the system liblmdb on the same env as the tests (compiled by the tests).
 *
 *   peer count <path> <iterations>
 *     prints "ready", then per iteration one write txn: counter (u64 LE under key "counter") += 1,
 *     put "peer-NNNNNN". Holds a read txn from the start and checks at the end that it still sees
 *     the counter it saw then. Prints "done saw_other=<max counter - own increments> snapshot_ok=<0|1>".
 *   peer grow <path> <mapsize> <entries> <value size>
 *     opens with a larger map size and writes big entries "big-NNNNNN" (value byte = n & 0xff),
 *     growing the file beyond the map of the other process. Prints "done".
 */
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(x)                                                                        \
  do {                                                                                  \
    int rc_ = (x);                                                                      \
    if (rc_) {                                                                          \
      fprintf(stderr, "peer: %s: %s (line %d)\n", #x, mdb_strerror(rc_), __LINE__);   \
      exit(2);                                                                          \
    }                                                                                   \
  } while (0)

static MDB_env *open_env(const char *path, size_t mapsize) {
  MDB_env *env;
  CHECK(mdb_env_create(&env));
  if (mapsize) CHECK(mdb_env_set_mapsize(env, mapsize));
  CHECK(mdb_env_set_maxdbs(env, 8));
  CHECK(mdb_env_open(env, path, MDB_NOTLS | MDB_NOSYNC, 0664));
  return env;
}

/* Begins a txn, adopting a map grown by the other process (MDB_MAP_RESIZED). */
static MDB_txn *begin(MDB_env *env, unsigned flags) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(env, NULL, flags, &txn);
  if (rc == MDB_MAP_RESIZED) {
    CHECK(mdb_env_set_mapsize(env, 0));
    rc = mdb_txn_begin(env, NULL, flags, &txn);
  }
  CHECK(rc);
  return txn;
}

static uint64_t get_counter(MDB_txn *txn, MDB_dbi dbi) {
  MDB_val k = {7, "counter"}, v;
  uint64_t c = 0;
  int rc = mdb_get(txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return 0;
  CHECK(rc);
  memcpy(&c, v.mv_data, sizeof c);
  return c;
}

/* Halfway, wait (up to 60 s) until another process has committed an increment, so that the two
 * writers interleave whatever the scheduling; the caller's saw_other then shows whether it was seen. */
static void wait_for_other(MDB_env *env, MDB_dbi dbi, uint64_t c0, long mine) {
  for (int tries = 0; tries < 60000; tries++) {
    MDB_txn *txn = begin(env, MDB_RDONLY);
    uint64_t c = get_counter(txn, dbi);
    mdb_txn_abort(txn);
    if ((long)(c - c0) > mine) return;
    usleep(1000);
  }
}

static int count(const char *path, long iterations) {
  MDB_env *env = open_env(path, 0);
  MDB_txn *snap = begin(env, MDB_RDONLY), *txn;
  MDB_dbi dbi;
  CHECK(mdb_dbi_open(snap, "shared", 0, &dbi)); /* opened in a committed txn: usable by later txns */
  CHECK(mdb_txn_commit(snap));
  snap = begin(env, MDB_RDONLY);
  uint64_t c0 = get_counter(snap, dbi);
  printf("ready\n");
  fflush(stdout);
  long saw_other = 0;
  for (long i = 0; i < iterations; i++) {
    if (i == iterations / 2) wait_for_other(env, dbi, c0, i);
    txn = begin(env, 0);
    uint64_t c = get_counter(txn, dbi) + 1;
    MDB_val k = {7, "counter"}, v = {sizeof c, &c};
    CHECK(mdb_put(txn, dbi, &k, &v, 0));
    char name[32];
    snprintf(name, sizeof name, "peer-%06ld", i);
    MDB_val pk = {strlen(name), name}, pv = {1, "p"};
    CHECK(mdb_put(txn, dbi, &pk, &pv, 0));
    CHECK(mdb_txn_commit(txn));
    long other = (long)(c - c0) - (i + 1);
    if (other > saw_other) saw_other = other;
    usleep(200);
  }
  int snapshot_ok = get_counter(snap, dbi) == c0;
  mdb_txn_abort(snap);
  printf("done saw_other=%ld snapshot_ok=%d\n", saw_other, snapshot_ok);
  mdb_env_close(env);
  return 0;
}

static int grow(const char *path, size_t mapsize, long entries, size_t vsize) {
  MDB_env *env = open_env(path, mapsize);
  MDB_txn *txn;
  MDB_dbi dbi;
  char *val = malloc(vsize);
  for (long i = 0; i < entries;) {
    txn = begin(env, 0);
    CHECK(mdb_dbi_open(txn, "shared", 0, &dbi));
    for (long end = i + 100; i < entries && i < end; i++) {
      char name[32];
      snprintf(name, sizeof name, "big-%06ld", i);
      memset(val, (int)(i & 0xff), vsize);
      MDB_val k = {strlen(name), name}, v = {vsize, val};
      CHECK(mdb_put(txn, dbi, &k, &v, 0));
    }
    CHECK(mdb_txn_commit(txn));
  }
  free(val);
  printf("done\n");
  mdb_env_close(env);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "count")) return count(argv[2], atol(argv[3]));
  if (argc == 6 && !strcmp(argv[1], "grow")) return grow(argv[2], (size_t)atoll(argv[3]), atol(argv[4]), (size_t)atoll(argv[5]));
  fprintf(stderr, "usage: peer count <path> <n> | peer grow <path> <mapsize> <entries> <vsize>\n");
  return 1;
}
