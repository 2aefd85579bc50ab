// native_eq — one RBJ biquad band with optional tanh saturation, for AERS (ABI 1).
//
// Filter types (param filter_type, stepped): 0 peak, 1 low shelf, 2 high shelf, 3 low pass,
// 4 high pass — Robert Bristow-Johnson's "Audio EQ Cookbook" formulas, run as a transposed
// direct form II in double precision (the structure scipy.signal.lfilter uses, which is what
// the Python reference in tests/native/reference_eq.py calls). The frequency is limited to
// 0.49 x the sample rate so a 20 kHz setting stays stable at 44.1 kHz.
//
// Saturation: y' = y + saturation * (tanh(g*y)/g - y), g = 10^(drive_db/20). At saturation 0
// the tanh is skipped entirely, so the plain EQ costs nothing extra. Any channel count works.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "aers_plugin.h"
#include "aers_plugin_util.hpp"

namespace {

enum ParamId : uint32_t { kType, kFreq, kGain, kQ, kDrive, kSaturation, kParamCount };
enum FilterType { kPeak, kLowShelf, kHighShelf, kLowPass, kHighPass };

constexpr uint32_t kAuto = AERS_PARAM_IS_AUTOMATABLE;
const aers_param_info_t kParams[kParamCount] = {
    {kType, kAuto | AERS_PARAM_IS_STEPPED, "filter_type", "", 0.0, 4.0, 0.0},
    {kFreq, kAuto, "freq", "Hz", 20.0, 20000.0, 1000.0},
    {kGain, kAuto, "gain_db", "dB", -24.0, 24.0, 0.0},
    {kQ, kAuto, "q", "", 0.1, 18.0, 0.7071067811865476},
    {kDrive, kAuto, "drive_db", "dB", 0.0, 36.0, 0.0},
    {kSaturation, kAuto, "saturation", "", 0.0, 1.0, 0.0},
};

const aers_descriptor_t kDescriptor = {
    AERS_VERSION_INIT,
    "org.aers.example.native-eq",
    "Native biquad EQ",
    "AERS examples",
    "1.0.0",
    "RBJ peak/shelf/pass biquad with optional tanh saturation",
    kParamCount,
    0,
    kParams,
};

constexpr uint32_t kStateMagic = 0x51455241u;  // "AREQ"
constexpr uint32_t kStateFormat = 1;
constexpr double kPi = 3.14159265358979323846;

struct Eq {
   double sample_rate;
   uint32_t channels;
   double values[kParamCount];
   double b0 = 1, b1 = 0, b2 = 0, a1 = 0, a2 = 0;  // normalised by a0
   double drive = 1, mix = 0;
   std::vector<double> z;  // [channels][2] filter memories

   Eq(double sr, uint32_t ch) : sample_rate(sr), channels(ch), z(2u * ch, 0.0) {
      for (uint32_t p = 0; p < kParamCount; ++p) values[p] = kParams[p].default_value;
      update();
   }

   void update() {  // RBJ cookbook coefficients for the current values
      const double f = std::fmin(values[kFreq], 0.49 * sample_rate);
      const double A = std::pow(10.0, values[kGain] / 40.0);
      const double w0 = 2.0 * kPi * f / sample_rate;
      const double cw = std::cos(w0), alpha = std::sin(w0) / (2.0 * values[kQ]);
      const double sq = 2.0 * std::sqrt(A) * alpha;
      double nb0, nb1, nb2, na0, na1, na2;
      switch (static_cast<int>(values[kType])) {
         case kLowShelf:
            nb0 = A * ((A + 1) - (A - 1) * cw + sq);
            nb1 = 2 * A * ((A - 1) - (A + 1) * cw);
            nb2 = A * ((A + 1) - (A - 1) * cw - sq);
            na0 = (A + 1) + (A - 1) * cw + sq;
            na1 = -2 * ((A - 1) + (A + 1) * cw);
            na2 = (A + 1) + (A - 1) * cw - sq;
            break;
         case kHighShelf:
            nb0 = A * ((A + 1) + (A - 1) * cw + sq);
            nb1 = -2 * A * ((A - 1) + (A + 1) * cw);
            nb2 = A * ((A + 1) + (A - 1) * cw - sq);
            na0 = (A + 1) - (A - 1) * cw + sq;
            na1 = 2 * ((A - 1) - (A + 1) * cw);
            na2 = (A + 1) - (A - 1) * cw - sq;
            break;
         case kLowPass:
            nb0 = (1 - cw) / 2, nb1 = 1 - cw, nb2 = (1 - cw) / 2;
            na0 = 1 + alpha, na1 = -2 * cw, na2 = 1 - alpha;
            break;
         case kHighPass:
            nb0 = (1 + cw) / 2, nb1 = -(1 + cw), nb2 = (1 + cw) / 2;
            na0 = 1 + alpha, na1 = -2 * cw, na2 = 1 - alpha;
            break;
         default:  // peak
            nb0 = 1 + alpha * A, nb1 = -2 * cw, nb2 = 1 - alpha * A;
            na0 = 1 + alpha / A, na1 = -2 * cw, na2 = 1 - alpha / A;
            break;
      }
      b0 = nb0 / na0, b1 = nb1 / na0, b2 = nb2 / na0, a1 = na1 / na0, a2 = na2 / na0;
      drive = std::pow(10.0, values[kDrive] / 20.0);
      mix = values[kSaturation];
   }

   // One biquad (+ saturation) over `n` samples of `lanes` channels at once: the recursion is
   // latency-bound, so running independent channels side by side keeps the FPU busy.
   template <int lanes, bool saturate>
   void run(const float *const *in, float *const *out, double *zs, uint32_t n) const {
      double z1[lanes], z2[lanes];
      for (int l = 0; l < lanes; ++l) z1[l] = zs[2 * l], z2[l] = zs[2 * l + 1];
      for (uint32_t i = 0; i < n; ++i) {
         for (int l = 0; l < lanes; ++l) {
            const double x = in[l][i];
            const double y = b0 * x + z1[l];
            z1[l] = b1 * x - a1 * y + z2[l];
            z2[l] = b2 * x - a2 * y;
            out[l][i] = static_cast<float>(saturate ? y + mix * (std::tanh(drive * y) / drive - y) : y);
         }
      }
      for (int l = 0; l < lanes; ++l) zs[2 * l] = z1[l], zs[2 * l + 1] = z2[l];
   }

   void render(const aers_process_t *p, uint32_t from, uint32_t to) {
      const uint32_t n = to - from;
      uint32_t c = 0;
      for (; c + 2 <= channels; c += 2) {
         const float *in[2] = {p->in[c] + from, p->in[c + 1] + from};
         float *out[2] = {p->out[c] + from, p->out[c + 1] + from};
         if (mix == 0.0)
            run<2, false>(in, out, &z[2 * c], n);
         else
            run<2, true>(in, out, &z[2 * c], n);
      }
      if (c < channels) {
         const float *in[1] = {p->in[c] + from};
         float *out[1] = {p->out[c] + from};
         if (mix == 0.0)
            run<1, false>(in, out, &z[2 * c], n);
         else
            run<1, true>(in, out, &z[2 * c], n);
      }
   }

   template <class W> void serialise(W &w) const {
      w.put_value(kStateMagic);
      w.put_value(kStateFormat);
      w.put_value(channels);
      w.put(values, sizeof values);
      w.put(z.data(), z.size() * sizeof(double));
   }

   bool restore(const uint8_t *data, uint64_t size) {
      aers::StateReader r(data, size);
      uint32_t magic = 0, format = 0, ch = 0;
      double v[kParamCount];
      if (!r.get_value(magic) || !r.get_value(format) || !r.get_value(ch) || !r.get(v, sizeof v))
         return false;
      if (magic != kStateMagic || format != kStateFormat || ch != channels) return false;
      for (uint32_t p = 0; p < kParamCount; ++p)
         if (!std::isfinite(v[p]) || aers::clamp_param(kParams[p], v[p]) != v[p]) return false;
      std::vector<double> nz(z.size());
      if (!r.get(nz.data(), nz.size() * sizeof(double)) || !r.at_end()) return false;
      std::memcpy(values, v, sizeof v);
      z.swap(nz);
      update();
      return true;
   }
};

Eq *self_of(void *p) { return static_cast<Eq *>(p); }
const Eq *self_of(const void *p) { return static_cast<const Eq *>(p); }

const aers_descriptor_t *AERS_ABI get_descriptor() { return &kDescriptor; }

void *AERS_ABI create(double sample_rate, uint32_t max_frames, uint32_t channels) {
   if (!(sample_rate >= 8000.0 && sample_rate <= 384000.0) || max_frames == 0 || channels == 0 ||
       channels > 64)
      return nullptr;
   try {
      return new Eq(sample_rate, channels);
   } catch (...) {  // no C++ exception may cross the C ABI
      return nullptr;
   }
}

void AERS_ABI destroy(void *self) { delete self_of(self); }

uint32_t AERS_ABI latency(const void *) { return 0; }

void AERS_ABI reset(void *self) {
   auto &z = self_of(self)->z;
   std::fill(z.begin(), z.end(), 0.0);
}

bool AERS_ABI process(void *self, const aers_process_t *p) {
   Eq *eq = self_of(self);
   if (p->in_channels != eq->channels || p->out_channels != eq->channels) return false;
   aers::for_each_span(
       p, [&](uint32_t from, uint32_t to) { eq->render(p, from, to); },
       [&](uint32_t id, double value) {
          if (id < kParamCount) {
             eq->values[id] = aers::clamp_param(kParams[id], value);
             eq->update();
          }
       });
   return true;
}

int64_t AERS_ABI get_state(const void *self, uint8_t *buffer, uint64_t capacity) {
   return aers::get_state_of(self_of(self), buffer, capacity);
}

bool AERS_ABI set_state(void *self, const uint8_t *data, uint64_t size) {
   return aers::set_state_of(self_of(self), data, size);
}

const void *AERS_ABI get_extension(const char *) { return nullptr; }

const aers_plugin_entry_t kEntry = {
    AERS_VERSION_INIT, get_descriptor, create, destroy, latency, reset,
    process,           get_state,      set_state, get_extension,
};

}  // namespace

extern "C" AERS_EXPORT const aers_plugin_entry_t *AERS_ABI aers_plugin_entry(void) { return &kEntry; }
