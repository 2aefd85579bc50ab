/*
 * aers_plugin.h — the AERS native effect ABI, version 1.0.0.
 *
 * A native AERS plugin is a shared library that exports ONE function (the entry, by default
 * `aers_plugin_entry`) returning a pointer to a static `aers_plugin_entry_t`: a version and a
 * table of function pointers. The host (aers_host.native, Python ctypes) loads the library
 * only from bytes whose signature and SHA-256 it has verified, reads `abi_version` FIRST, and
 * refuses the library when `aers_version_is_compatible()` says no — before touching any other
 * field, because a different major version may lay the struct out differently.
 *
 * Shape borrowed from CLAP (free-audio/clap), written for AERS:
 *   - `extern "C"`, fixed-width integers, the AERS_ABI calling-convention macro;
 *   - a {major, minor, revision} version struct is the first field of the entry and of the
 *     descriptor; one compatibility function decides;
 *   - the instance pointer (`self`) is the first argument of every per-instance call;
 *   - events are flat, memcpy-able blocks that start with a common header carrying their total
 *     size, so a plugin skips event types it does not know;
 *   - optional features are extensions looked up by id "aers.<name>/<rev>"; an unsupported id
 *     returns NULL. A released struct is never grown: a change means a new extension id.
 *   - failures come back as a bool, NULL or a byte count — never as a crash or a C++ exception
 *     crossing the ABI (every function here must be noexcept in spirit).
 *
 * Thread tags (as in CLAP), on every function:
 *   [thread-safe]               any thread, any time, concurrently;
 *   [main-thread]               the host's control thread, never concurrently with process();
 *   [audio-thread & active]     the real-time thread, between create() and destroy(); must not
 *                               allocate, lock, log or do I/O.
 *
 * Lifecycle of one instance: create -> (process | reset | latency | get_state | set_state)* ->
 * destroy. The format (sample rate, max frames, channels) is fixed at create; to change it the
 * host destroys the instance and creates a new one. Latency may not change while it lives.
 *
 * The Python mirror of this header is aers_host/native/_abi.py; tests/native compare the size
 * and every field offset of each struct against a compiled probe. A copy of this file ships
 * inside the Python package (aers_host/native/include/aers_plugin.h); the two are identical.
 */
#ifndef AERS_PLUGIN_H
#define AERS_PLUGIN_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#if defined(_WIN32)
#  define AERS_ABI __cdecl
#  define AERS_EXPORT __declspec(dllexport)
#else
#  define AERS_ABI
#  define AERS_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Version                                                                                    */
/* ---------------------------------------------------------------------------------------- */

#define AERS_VERSION_MAJOR 1
#define AERS_VERSION_MINOR 0
#define AERS_VERSION_REVISION 0

typedef struct aers_version {
   uint32_t major;    /* incompatible layout or semantics change */
   uint32_t minor;    /* additions through new extension ids only */
   uint32_t revision; /* documentation and bug fixes */
} aers_version_t;

#define AERS_VERSION_INIT { AERS_VERSION_MAJOR, AERS_VERSION_MINOR, AERS_VERSION_REVISION }

/* The one compatibility rule: same major version. Minors are compatible both ways because
 * released structs never grow (new features are extensions, absent ones return NULL).
 * Major 0 does not exist: a zeroed struct is never compatible. [thread-safe] */
static inline bool aers_version_is_compatible(aers_version_t v) {
   return v.major == AERS_VERSION_MAJOR;
}

/* ---------------------------------------------------------------------------------------- */
/* Parameters and descriptor                                                                  */
/* ---------------------------------------------------------------------------------------- */

#define AERS_NAME_SIZE 64
#define AERS_UNIT_SIZE 16
/* The host refuses descriptors with more parameters than this. */
#define AERS_MAX_PARAMS 256

enum aers_param_flags {
   AERS_PARAM_IS_AUTOMATABLE = 1 << 0, /* may change inside a block through events */
   AERS_PARAM_IS_STEPPED = 1 << 1,     /* integer values only (a choice, a mode) */
};

typedef struct aers_param_info {
   uint32_t id;                 /* stable id used in events; unique within the plugin */
   uint32_t flags;              /* aers_param_flags */
   char name[AERS_NAME_SIZE];   /* NUL-terminated identifier used in configs ("room_size") */
   char unit[AERS_UNIT_SIZE];   /* NUL-terminated display unit ("dB", "Hz", "" ) */
   double min_value;            /* finite, min_value <= default_value <= max_value */
   double max_value;
   double default_value;
} aers_param_info_t;

typedef struct aers_descriptor {
   aers_version_t abi_version;      /* AERS_VERSION_INIT: the ABI the descriptor follows */
   const char *id;                  /* reverse-DNS style, "org.aers.example.reverb" */
   const char *name;                /* display name */
   const char *vendor;
   const char *version;             /* the plugin's own version, "1.0.0" */
   const char *description;         /* one line; may be "" but never NULL */
   uint32_t param_count;            /* <= AERS_MAX_PARAMS */
   uint32_t reserved;               /* 0 */
   const aers_param_info_t *params; /* [param_count] */
} aers_descriptor_t;
/* Ownership: the descriptor, its strings and its params array are owned by the plugin,
 * static, and valid until the library is unloaded. */

/* ---------------------------------------------------------------------------------------- */
/* Events                                                                                     */
/* ---------------------------------------------------------------------------------------- */

#define AERS_CORE_EVENT_SPACE_ID 0

typedef struct aers_event_header {
   uint32_t size;     /* size of the whole event in bytes, header included; a multiple of 8 */
   uint32_t time;     /* sample offset within the block, 0 <= time <= frames (an event at
                       * `frames` takes effect after the last sample of the block) */
   uint16_t space_id; /* AERS_CORE_EVENT_SPACE_ID for the types below */
   uint16_t type;     /* aers_event_type within space_id */
   uint32_t flags;    /* 0 for now */
} aers_event_header_t;

enum aers_event_type {
   AERS_EVENT_PARAM_VALUE = 0,
};

/* Set a parameter to `value` from sample `header.time` on. The host clamps `value` to the
 * parameter's range; stepped parameters receive integral values. */
typedef struct aers_event_param_value {
   aers_event_header_t header; /* size = sizeof(aers_event_param_value_t), type = PARAM_VALUE */
   uint32_t param_id;
   uint32_t reserved; /* 0 */
   double value;
} aers_event_param_value_t;

/* Events arrive packed back to back, sorted by time: the next event starts `size` bytes after
 * the current one. Read each header, handle the types you know, skip the rest by size.
 * [audio-thread] */
static inline const aers_event_header_t *aers_event_next(const aers_event_header_t *ev) {
   return (const aers_event_header_t *)((const uint8_t *)ev + ev->size);
}

/* ---------------------------------------------------------------------------------------- */
/* Processing                                                                                 */
/* ---------------------------------------------------------------------------------------- */

typedef struct aers_process {
   uint64_t start;                    /* absolute sample index of frame 0 of this block */
   uint32_t frames;                   /* 1 <= frames <= max_frames given to create() */
   uint32_t in_channels;              /* equals the channels given to create() */
   uint32_t out_channels;             /* equals in_channels in ABI 1 (effects keep the layout) */
   uint32_t event_count;              /* number of events in the packed list */
   const float *const *in;            /* [in_channels] planar float32, [frames] each */
   float *const *out;                 /* [out_channels] planar float32; write every sample */
   const aers_event_header_t *events; /* first event, or NULL when event_count == 0 */
} aers_process_t;
/* Ownership: everything reachable from aers_process_t belongs to the host and is valid only
 * until process() returns. `in` and `out` never alias each other. */

/* ---------------------------------------------------------------------------------------- */
/* Entry                                                                                      */
/* ---------------------------------------------------------------------------------------- */

typedef struct aers_plugin_entry_table { /* tag differs from the entry symbol's name */
   aers_version_t abi_version; /* AERS_VERSION_INIT; read and checked before anything else */

   /* The static descriptor. [thread-safe] */
   const aers_descriptor_t *(AERS_ABI *get_descriptor)(void);

   /* Allocate an instance for this format with every parameter at its default; return NULL
    * when the format is unsupported or memory is short. Owned by the host until destroy().
    * [main-thread] */
   void *(AERS_ABI *create)(double sample_rate, uint32_t max_frames, uint32_t channels);

   /* Free the instance; `self` is invalid afterwards. [main-thread] */
   void(AERS_ABI *destroy)(void *self);

   /* Processing latency in samples; constant for the life of the instance. [main-thread] */
   uint32_t(AERS_ABI *latency)(const void *self);

   /* Clear delay lines and filter memories; parameter values are kept. [main-thread] */
   void(AERS_ABI *reset)(void *self);

   /* Render one block, applying events at their sample offsets. Return false on failure (the
    * host then silences the block and raises an error). [audio-thread & active] */
   bool(AERS_ABI *process)(void *self, const aers_process_t *process);

   /* Serialise parameters and internal state. With `buffer` NULL or `capacity` too small,
    * write nothing and return the size needed; otherwise write it and return the bytes
    * written. Return -1 on error. The host loops until the size is stable. [main-thread] */
   int64_t(AERS_ABI *get_state)(const void *self, uint8_t *buffer, uint64_t capacity);

   /* Restore what get_state() wrote (for the same format). Return false and leave the
    * instance unchanged when the bytes are not acceptable. `data` is valid only during the
    * call. [main-thread] */
   bool(AERS_ABI *set_state)(void *self, const uint8_t *data, uint64_t size);

   /* Look up an optional extension by id ("aers.tail/1"); NULL when unsupported. The
    * returned struct is static and valid until the library is unloaded. [thread-safe] */
   const void *(AERS_ABI *get_extension)(const char *id);
} aers_plugin_entry_t;
/* Ownership: the entry is static, owned by the plugin, valid until the library is unloaded. */

/* The type of the exported entry function. [thread-safe] */
typedef const aers_plugin_entry_t *(AERS_ABI *aers_plugin_entry_fn)(void);

#define AERS_DEFAULT_ENTRY_SYMBOL "aers_plugin_entry"

/* ---------------------------------------------------------------------------------------- */
/* Extension aers.tail/1: how long the output rings after the input goes silent.            */
/* ---------------------------------------------------------------------------------------- */

#define AERS_EXT_TAIL "aers.tail/1"

typedef struct aers_plugin_tail {
   /* Tail length in samples; UINT32_MAX means "infinite". [main-thread] */
   uint32_t(AERS_ABI *get)(const void *self);
} aers_plugin_tail_t;

#ifdef __cplusplus
}
#endif

#endif /* AERS_PLUGIN_H */
