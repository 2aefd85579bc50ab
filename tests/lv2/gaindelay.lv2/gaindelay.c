/* A tiny LV2 effect for the AERS tests: out[n] = gain * in[n - DELAY], gain in dB.
 *
 * Arithmetic matches the built-in chain gain(smoothing_ms: 0) -> delay(samples: DELAY, mix: 1):
 * the factor is pow(10, dB / 20) in double, the product is rounded once to float. The delay
 * line is the plugin's state (state:interface), so a session that saves and restores it
 * continues bit for bit. It reports its delay on an lv2:reportsLatency port.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lv2/atom/atom.h>
#include <lv2/core/lv2.h>
#include <lv2/state/state.h>
#include <lv2/urid/urid.h>

#define PLUGIN_URI "urn:aers:test:gaindelay"
#define DELAY 32

enum { IN = 0, OUT = 1, GAIN_DB = 2, LATENCY = 3, MODE = 4 };

typedef struct {
  const float *in;
  float *out;
  const float *gain_db;
  float *latency;
  const float *mode;
  float ring[DELAY];
  uint32_t pos;
  LV2_URID chunk, ring_key;
} GainDelay;

static LV2_Handle instantiate(const LV2_Descriptor *d, double rate, const char *path,
                              const LV2_Feature *const *features) {
  (void)d; (void)rate; (void)path;
  LV2_URID_Map *map = NULL;
  for (int i = 0; features && features[i]; ++i)
    if (!strcmp(features[i]->URI, LV2_URID__map)) map = (LV2_URID_Map *)features[i]->data;
  if (!map) return NULL;
  GainDelay *p = (GainDelay *)calloc(1, sizeof(GainDelay));
  p->chunk = map->map(map->handle, LV2_ATOM__Chunk);
  p->ring_key = map->map(map->handle, PLUGIN_URI "#ring");
  return p;
}

static void connect_port(LV2_Handle h, uint32_t port, void *data) {
  GainDelay *p = (GainDelay *)h;
  switch (port) {
    case IN: p->in = (const float *)data; break;
    case OUT: p->out = (float *)data; break;
    case GAIN_DB: p->gain_db = (const float *)data; break;
    case LATENCY: p->latency = (float *)data; break;
    case MODE: p->mode = (const float *)data; break;
  }
}

static void activate(LV2_Handle h) {
  GainDelay *p = (GainDelay *)h;
  memset(p->ring, 0, sizeof p->ring);
  p->pos = 0;
}

static void run(LV2_Handle h, uint32_t n) {
  GainDelay *p = (GainDelay *)h;
  const double g = (*p->mode >= 1.0f ? -1.0 : 1.0) * pow(10.0, (double)*p->gain_db / 20.0);
  for (uint32_t i = 0; i < n; ++i) {
    const float delayed = p->ring[p->pos];
    p->ring[p->pos] = p->in[i];
    p->pos = (p->pos + 1) % DELAY;
    p->out[i] = (float)((double)delayed * g);
  }
  if (p->latency) *p->latency = (float)DELAY;
}

static void cleanup(LV2_Handle h) { free(h); }

static LV2_State_Status save(LV2_Handle h, LV2_State_Store_Function store,
                             LV2_State_Handle sh, uint32_t flags, const LV2_Feature *const *f) {
  (void)flags; (void)f;
  GainDelay *p = (GainDelay *)h;
  float blob[DELAY + 1];
  memcpy(blob, p->ring, sizeof p->ring);
  blob[DELAY] = (float)p->pos;
  return store(sh, p->ring_key, blob, sizeof blob, p->chunk,
               LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
}

static LV2_State_Status restore(LV2_Handle h, LV2_State_Retrieve_Function retrieve,
                                LV2_State_Handle sh, uint32_t flags,
                                const LV2_Feature *const *f) {
  (void)flags; (void)f;
  GainDelay *p = (GainDelay *)h;
  size_t size = 0;
  uint32_t type = 0, vflags = 0;
  const float *blob = (const float *)retrieve(sh, p->ring_key, &size, &type, &vflags);
  if (!blob || size != sizeof(float) * (DELAY + 1) || type != p->chunk) return LV2_STATE_ERR_NO_PROPERTY;
  memcpy(p->ring, blob, sizeof p->ring);
  p->pos = ((uint32_t)blob[DELAY]) % DELAY;
  return LV2_STATE_SUCCESS;
}

static const void *extension_data(const char *uri) {
  static const LV2_State_Interface state = {save, restore};
  return strcmp(uri, LV2_STATE__interface) ? NULL : &state;
}

static const LV2_Descriptor descriptor = {PLUGIN_URI, instantiate, connect_port, activate, run,
                                          NULL, cleanup, extension_data};

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index) {
  return index == 0 ? &descriptor : NULL;
}
