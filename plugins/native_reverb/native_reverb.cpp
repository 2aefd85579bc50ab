// native_reverb — a Freeverb-style stereo reverb for AERS (ABI 1).
//
// Jezar's Freeverb topology: the (summed) input feeds 8 parallel lowpass-feedback comb filters
// per side, whose sum runs through 4 series allpasses; the right side's delays are 23 samples
// (at 44.1 kHz) longer, which decorrelates the sides ("stereo spread"). Delay lengths scale
// with the sample rate. State is kept in double precision so the Python reference in
// tests/native/reference_reverb.py matches to well under 1e-5.
//
// Channels: 2 (stereo in/out) or 1 (mono: the input feeds both tanks as if L == R and the
// output mixes both). Other channel counts are refused at create().
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "aers_plugin.h"
#include "aers_plugin_util.hpp"

namespace {

constexpr int kCombs = 8;
constexpr int kAllpasses = 4;
constexpr int kCombTuning[kCombs] = {1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617};
constexpr int kAllpassTuning[kAllpasses] = {556, 441, 341, 225};
constexpr int kStereoSpread = 23;
constexpr double kFixedGain = 0.015;
constexpr double kScaleWet = 3.0;
constexpr double kScaleDry = 2.0;
constexpr double kScaleDamp = 0.4;
constexpr double kScaleRoom = 0.28;
constexpr double kOffsetRoom = 0.7;
constexpr double kAllpassFeedback = 0.5;
constexpr uint32_t kStateMagic = 0x56524541u;  // "AERV"
constexpr uint32_t kStateFormat = 1;

enum ParamId : uint32_t { kRoomSize, kDamping, kWet, kDry, kWidth, kParamCount };

constexpr uint32_t kAuto = AERS_PARAM_IS_AUTOMATABLE;
const aers_param_info_t kParams[kParamCount] = {
    {kRoomSize, kAuto, "room_size", "", 0.0, 1.0, 0.5},
    {kDamping, kAuto, "damping", "", 0.0, 1.0, 0.5},
    {kWet, kAuto, "wet", "", 0.0, 1.0, 0.25},
    {kDry, kAuto, "dry", "", 0.0, 1.0, 0.5},
    {kWidth, kAuto, "width", "", 0.0, 1.0, 1.0},
};

const aers_descriptor_t kDescriptor = {
    AERS_VERSION_INIT,
    "org.aers.example.native-reverb",
    "Native Freeverb",
    "AERS examples",
    "1.0.0",
    "Freeverb-style stereo reverb: 8 damped combs + 4 allpasses per side",
    kParamCount,
    0,
    kParams,
};

int scaled(int tuning, double sample_rate) {
   return static_cast<int>(std::floor(tuning * sample_rate / 44100.0 + 0.5));
}

struct Line {  // one delay line: a comb (with its damping memory) or an allpass
   std::vector<double> buf;
   uint32_t idx = 0;
   double store = 0.0;
};

struct Reverb {
   double sample_rate;
   uint32_t channels;
   double values[kParamCount];
   double feedback = 0, damp1 = 0, damp2 = 0, wet1 = 0, wet2 = 0, dry = 0;
   Line comb[2][kCombs];
   Line allpass[2][kAllpasses];
   std::vector<double> input, acc[2];  // [max_frames] scratch, allocated at create

   Reverb(double sr, uint32_t max_frames, uint32_t ch) : sample_rate(sr), channels(ch) {
      for (uint32_t p = 0; p < kParamCount; ++p) values[p] = kParams[p].default_value;
      for (int side = 0; side < 2; ++side) {
         const int spread = side ? kStereoSpread : 0;
         for (int i = 0; i < kCombs; ++i) comb[side][i].buf.assign(scaled(kCombTuning[i] + spread, sr), 0.0);
         for (int i = 0; i < kAllpasses; ++i)
            allpass[side][i].buf.assign(scaled(kAllpassTuning[i] + spread, sr), 0.0);
         acc[side].assign(max_frames, 0.0);
      }
      input.assign(max_frames, 0.0);
      update();
   }

   void update() {  // derived gains, Freeverb's "update()"
      feedback = values[kRoomSize] * kScaleRoom + kOffsetRoom;
      damp1 = values[kDamping] * kScaleDamp;
      damp2 = 1.0 - damp1;
      const double wet = values[kWet] * kScaleWet;
      wet1 = wet * (values[kWidth] / 2.0 + 0.5);
      wet2 = wet * ((1.0 - values[kWidth]) / 2.0);
      dry = values[kDry] * kScaleDry;
   }

   void reset() {
      for (auto &side : comb)
         for (auto &l : side) std::fill(l.buf.begin(), l.buf.end(), 0.0), l.idx = 0, l.store = 0.0;
      for (auto &side : allpass)
         for (auto &l : side) std::fill(l.buf.begin(), l.buf.end(), 0.0), l.idx = 0, l.store = 0.0;
   }

   // All 8 combs of one side in a single pass: each comb's damping memory is a loop-carried
   // dependency, so running them side by side (instead of one after another) lets the CPU
   // overlap the 8 chains. The sum keeps Freeverb's order (comb 0 first), so results are
   // identical to the one-comb-at-a-time reference.
   void run_combs(Line (&lines)[kCombs], const double *in, double *out, uint32_t n) const {
      double *buf[kCombs], store[kCombs];
      uint32_t idx[kCombs], size[kCombs];
      for (int k = 0; k < kCombs; ++k) {
         buf[k] = lines[k].buf.data(), store[k] = lines[k].store;
         idx[k] = lines[k].idx, size[k] = static_cast<uint32_t>(lines[k].buf.size());
      }
      for (uint32_t i = 0; i < n; ++i) {
         const double x = in[i];
         double sum = 0.0;
         for (int k = 0; k < kCombs; ++k) {
            const double y = buf[k][idx[k]];
            store[k] = y * damp2 + store[k] * damp1;
            buf[k][idx[k]] = x + store[k] * feedback;
            if (++idx[k] == size[k]) idx[k] = 0;
            sum += y;
         }
         out[i] = sum;
      }
      for (int k = 0; k < kCombs; ++k) lines[k].idx = idx[k], lines[k].store = store[k];
   }

   static void run_allpass(Line &l, double *io, uint32_t n) {
      const uint32_t size = static_cast<uint32_t>(l.buf.size());
      double *buf = l.buf.data();
      uint32_t idx = l.idx;
      for (uint32_t i = 0; i < n; ++i) {
         const double b = buf[idx];
         buf[idx] = io[i] + b * kAllpassFeedback;
         io[i] = b - io[i];
         if (++idx == size) idx = 0;
      }
      l.idx = idx;
   }

   void render(const aers_process_t *p, uint32_t from, uint32_t to) {
      const uint32_t n = to - from;
      const float *inL = p->in[0] + from;
      const float *inR = channels == 2 ? p->in[1] + from : inL;
      for (uint32_t i = 0; i < n; ++i)
         input[i] = (static_cast<double>(inL[i]) + static_cast<double>(inR[i])) * kFixedGain;
      for (int side = 0; side < 2; ++side) {
         double *a = acc[side].data();
         run_combs(comb[side], input.data(), a, n);
         for (auto &l : allpass[side]) run_allpass(l, a, n);
      }
      const double *aL = acc[0].data(), *aR = acc[1].data();
      if (channels == 2) {
         float *outL = p->out[0] + from, *outR = p->out[1] + from;
         for (uint32_t i = 0; i < n; ++i) {
            outL[i] = static_cast<float>(aL[i] * wet1 + aR[i] * wet2 + inL[i] * dry);
            outR[i] = static_cast<float>(aR[i] * wet1 + aL[i] * wet2 + inR[i] * dry);
         }
      } else {
         float *out = p->out[0] + from;
         for (uint32_t i = 0; i < n; ++i)
            out[i] = static_cast<float>((aL[i] + aR[i]) * 0.5 * (wet1 + wet2) + inL[i] * dry);
      }
   }

   template <class W> void serialise(W &w) const {
      w.put_value(kStateMagic);
      w.put_value(kStateFormat);
      w.put_value(sample_rate);
      w.put_value(channels);
      w.put(values, sizeof values);
      for (int side = 0; side < 2; ++side) {
         for (const auto &l : comb[side]) put_line(w, l);
         for (const auto &l : allpass[side]) put_line(w, l);
      }
   }

   template <class W> static void put_line(W &w, const Line &l) {
      w.put_value(l.idx);
      w.put_value(l.store);
      w.put(l.buf.data(), l.buf.size() * sizeof(double));
   }

   // Parse into a scratch copy first so a bad blob leaves this instance unchanged.
   bool restore(const uint8_t *data, uint64_t size) {
      aers::StateReader r(data, size);
      uint32_t magic = 0, format = 0, ch = 0;
      double sr = 0;
      if (!r.get_value(magic) || !r.get_value(format) || !r.get_value(sr) || !r.get_value(ch)) return false;
      if (magic != kStateMagic || format != kStateFormat || sr != sample_rate || ch != channels) return false;
      double v[kParamCount];
      if (!r.get(v, sizeof v)) return false;
      for (uint32_t p = 0; p < kParamCount; ++p)
         if (!std::isfinite(v[p]) || aers::clamp_param(kParams[p], v[p]) != v[p]) return false;
      Line c[2][kCombs], a[2][kAllpasses];
      for (int side = 0; side < 2; ++side) {
         for (int i = 0; i < kCombs; ++i) c[side][i].buf.resize(comb[side][i].buf.size());
         for (int i = 0; i < kAllpasses; ++i) a[side][i].buf.resize(allpass[side][i].buf.size());
         for (auto &l : c[side])
            if (!get_line(r, l)) return false;
         for (auto &l : a[side])
            if (!get_line(r, l)) return false;
      }
      if (!r.at_end()) return false;
      std::memcpy(values, v, sizeof v);
      for (int side = 0; side < 2; ++side) {
         for (int i = 0; i < kCombs; ++i) comb[side][i] = std::move(c[side][i]);
         for (int i = 0; i < kAllpasses; ++i) allpass[side][i] = std::move(a[side][i]);
      }
      update();
      return true;
   }

   static bool get_line(aers::StateReader &r, Line &l) {
      return r.get_value(l.idx) && r.get_value(l.store) && l.idx < l.buf.size() &&
             r.get(l.buf.data(), l.buf.size() * sizeof(double));
   }

   // Samples until the longest comb has decayed by 60 dB at the current room size.
   uint32_t tail() const {
      const double longest = static_cast<double>(comb[1][kCombs - 1].buf.size());
      const double t = longest * std::log(1e-3) / std::log(feedback) + 2.0 * sample_rate * 0.05;
      return t >= 4294967295.0 ? UINT32_MAX : static_cast<uint32_t>(t);
   }
};

Reverb *self_of(void *p) { return static_cast<Reverb *>(p); }
const Reverb *self_of(const void *p) { return static_cast<const Reverb *>(p); }

const aers_descriptor_t *AERS_ABI get_descriptor() { return &kDescriptor; }

void *AERS_ABI create(double sample_rate, uint32_t max_frames, uint32_t channels) {
   if (!(sample_rate >= 8000.0 && sample_rate <= 384000.0) || max_frames == 0) return nullptr;
   if (channels != 1 && channels != 2) return nullptr;
   try {
      return new Reverb(sample_rate, max_frames, channels);
   } catch (...) {  // no C++ exception may cross the C ABI
      return nullptr;
   }
}

void AERS_ABI destroy(void *self) { delete self_of(self); }

uint32_t AERS_ABI latency(const void *) { return 0; }

void AERS_ABI reset(void *self) { self_of(self)->reset(); }

bool AERS_ABI process(void *self, const aers_process_t *p) {
   Reverb *r = self_of(self);
   if (p->in_channels != r->channels || p->out_channels != r->channels ||
       p->frames > r->input.size())
      return false;
   aers::for_each_span(
       p, [&](uint32_t from, uint32_t to) { r->render(p, from, to); },
       [&](uint32_t id, double value) {
          if (id < kParamCount) {
             r->values[id] = aers::clamp_param(kParams[id], value);
             r->update();
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

uint32_t AERS_ABI tail_get(const void *self) { return self_of(self)->tail(); }
const aers_plugin_tail_t kTail = {tail_get};

const void *AERS_ABI get_extension(const char *id) {
   return id != nullptr && std::strcmp(id, AERS_EXT_TAIL) == 0 ? &kTail : nullptr;
}

const aers_plugin_entry_t kEntry = {
    AERS_VERSION_INIT, get_descriptor, create, destroy, latency, reset,
    process,           get_state,      set_state, get_extension,
};

}  // namespace

extern "C" AERS_EXPORT const aers_plugin_entry_t *AERS_ABI aers_plugin_entry(void) { return &kEntry; }
