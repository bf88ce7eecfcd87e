/*
 * One-shot gzip compression with Debian's libdeflate, run on the libuv thread pool.
 *
 * Why not Node's zlib: on snapshot data (incompressible values between compressible keys and tags)
 * zlib level 1 compresses ~51 MB/s per core here, libdeflate level 1 ~130 MB/s with slightly smaller
 * output; compression is most of the cost of writing a snapshot. Each call produces one complete
 * gzip member; the caller concatenates members (a valid gzip stream for every reader).
 */
#include <node_api.h>
#include <libdeflate.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref input_ref; /* keeps the input buffer alive while a pool thread reads it */
  const uint8_t *in;
  size_t in_len;
  uint8_t *out;
  size_t out_len;
  int level;
  const char *error;
} GzipJob;

/*
 * One compressor per pool thread, kept for the thread's life: allocating (and freeing) one per member cost
 * a large malloc and its page faults on every call, and left the freed blocks to fragment the thread's arena.
 */
static __thread struct libdeflate_compressor *thread_compressor = NULL;
static __thread int thread_level = -1;

static struct libdeflate_compressor *compressor_for(int level) {
  if (thread_compressor != NULL && thread_level == level) return thread_compressor;
  if (thread_compressor != NULL) libdeflate_free_compressor(thread_compressor);
  thread_compressor = libdeflate_alloc_compressor(level);
  thread_level = thread_compressor != NULL ? level : -1;
  return thread_compressor;
}

static void gzip_execute(napi_env env, void *data) {
  (void)env;
  GzipJob *job = data;
  struct libdeflate_compressor *c = compressor_for(job->level);
  if (c == NULL) {
    job->error = "libdeflate: cannot allocate a compressor (bad level or out of memory)";
    return;
  }
  size_t bound = libdeflate_gzip_compress_bound(c, job->in_len);
  job->out = malloc(bound > 0 ? bound : 1);
  if (job->out == NULL) {
    job->error = "libdeflate: out of memory";
  } else {
    job->out_len = libdeflate_gzip_compress(c, job->in, job->in_len, job->out, bound);
    if (job->out_len == 0) job->error = "libdeflate: compressed data did not fit its bound";
  }
}

/*
 * The member is copied into a buffer of its exact size that V8 owns and accounts for, and the worst-case
 * sized output freed at once: an external buffer would hold the whole bound until a garbage collection that
 * V8, not knowing about the memory, has no reason to run soon.
 */
static void gzip_complete(napi_env env, napi_status status, void *data) {
  GzipJob *job = data;
  napi_value result;
  if (status == napi_ok && job->error == NULL &&
      napi_create_buffer_copy(env, job->out_len, job->out, NULL, &result) == napi_ok) {
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    napi_value msg, err;
    napi_create_string_utf8(env, job->error ? job->error : "libdeflate: gzip failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, job->deferred, err);
  }
  free(job->out);
  napi_delete_reference(env, job->input_ref);
  napi_delete_async_work(env, job->work);
  free(job);
}

/* gzip(buffer, level) -> Promise<Buffer> */
static napi_value Gzip(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_buffer = false;
  if (argc < 2 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer) {
    napi_throw_type_error(env, NULL, "gzip(buffer, level): buffer must be a Buffer");
    return NULL;
  }
  int32_t level;
  if (napi_get_value_int32(env, argv[1], &level) != napi_ok || level < 0 || level > 12) {
    napi_throw_range_error(env, NULL, "gzip(buffer, level): level must be 0..12");
    return NULL;
  }
  GzipJob *job = calloc(1, sizeof(GzipJob));
  if (job == NULL) {
    napi_throw_error(env, NULL, "gzip: out of memory");
    return NULL;
  }
  void *in;
  napi_get_buffer_info(env, argv[0], &in, &job->in_len);
  job->in = in;
  job->level = level;
  napi_value promise, name;
  napi_create_reference(env, argv[0], 1, &job->input_ref);
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "lightningstream:gzip", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, gzip_execute, gzip_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor desc[] = {
    {"gzip", NULL, Gzip, NULL, NULL, NULL, napi_default_jsproperty, NULL},
  };
  napi_define_properties(env, exports, sizeof(desc) / sizeof(desc[0]), desc);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
