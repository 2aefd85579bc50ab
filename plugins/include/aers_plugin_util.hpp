// aers_plugin_util.hpp — optional C++17 helpers for writing AERS native plugins.
//
// Nothing here is part of the ABI (that is aers_plugin.h alone); these are the pieces every
// effect needs and would otherwise copy: walking the packed event list in constant-parameter
// spans, clamping a value to a parameter's declared range, and bounds-checked state
// (de)serialisation that follows get_state()'s "ask for the size, then write" contract.
// Header-only, no allocation, no exceptions.
#ifndef AERS_PLUGIN_UTIL_HPP
#define AERS_PLUGIN_UTIL_HPP

#include <cmath>
#include <cstdint>
#include <cstring>

#include "aers_plugin.h"

namespace aers {

// Split a block at every event: render(from, to) for each span in which no parameter changes,
// on_param(id, value) at each param-value event. Unknown event types are skipped by their
// size; a malformed size (smaller than a header) ends the walk instead of looping forever.
// [audio-thread & active]
template <class Render, class OnParam>
inline void for_each_span(const aers_process_t *p, Render &&render, OnParam &&on_param) {
   uint32_t pos = 0;
   const aers_event_header_t *ev = p->events;
   for (uint32_t i = 0; ev != nullptr && i < p->event_count; ++i, ev = aers_event_next(ev)) {
      if (ev->size < sizeof(aers_event_header_t)) break;
      const uint32_t t = ev->time < p->frames ? ev->time : p->frames;
      if (t > pos) {
         render(pos, t);
         pos = t;
      }
      if (ev->space_id == AERS_CORE_EVENT_SPACE_ID && ev->type == AERS_EVENT_PARAM_VALUE &&
          ev->size >= sizeof(aers_event_param_value_t)) {
         const auto *pv = reinterpret_cast<const aers_event_param_value_t *>(ev);
         on_param(pv->param_id, pv->value);
      }
   }
   if (pos < p->frames) render(pos, p->frames);
}

// Clamp `value` into the parameter's range (NaN becomes the default); round stepped params.
// [thread-safe]
inline double clamp_param(const aers_param_info_t &info, double value) {
   if (std::isnan(value)) return info.default_value;
   if (value < info.min_value) value = info.min_value;
   if (value > info.max_value) value = info.max_value;
   if (info.flags & AERS_PARAM_IS_STEPPED) value = std::floor(value + 0.5);
   return value;
}

// Appends raw bytes; with no buffer (or too little room) it only counts, so one serialise
// function serves both get_state() calls. [main-thread]
class StateWriter {
 public:
   StateWriter(uint8_t *buffer, uint64_t capacity) : buf_(buffer), cap_(capacity) {}
   void put(const void *data, uint64_t size) {
      if (buf_ != nullptr && size_ + size <= cap_) std::memcpy(buf_ + size_, data, size);
      size_ += size;
   }
   template <class T> void put_value(const T &v) { put(&v, sizeof v); }
   // What get_state() returns: bytes written when they fit, else the size needed.
   int64_t result() const { return static_cast<int64_t>(size_); }

 private:
   uint8_t *buf_;
   uint64_t cap_;
   uint64_t size_ = 0;
};

// Reads raw bytes with bounds checks; ok() turns false on the first short read. [main-thread]
class StateReader {
 public:
   StateReader(const uint8_t *data, uint64_t size) : data_(data), size_(size) {}
   bool get(void *out, uint64_t size) {
      if (!ok_ || data_ == nullptr || pos_ + size > size_) return ok_ = false;
      std::memcpy(out, data_ + pos_, size);
      pos_ += size;
      return true;
   }
   template <class T> bool get_value(T &v) { return get(&v, sizeof v); }
   bool ok() const { return ok_; }
   bool at_end() const { return ok_ && pos_ == size_; }

 private:
   const uint8_t *data_;
   uint64_t size_;
   uint64_t pos_ = 0;
   bool ok_ = true;
};

// get_state/set_state of the ABI for a plugin object with `serialise(StateWriter&) const`
// and `restore(const uint8_t*, uint64_t)`: the size query (buffer null or too small) and
// the no-exceptions-across-the-ABI rule live here once.
template <class Plugin>
int64_t get_state_of(const Plugin *plugin, uint8_t *buffer, uint64_t capacity) {
   StateWriter counter(nullptr, 0);
   plugin->serialise(counter);
   if (buffer == nullptr || capacity < static_cast<uint64_t>(counter.result())) return counter.result();
   StateWriter w(buffer, capacity);
   plugin->serialise(w);
   return w.result();
}

template <class Plugin> bool set_state_of(Plugin *plugin, const uint8_t *data, uint64_t size) {
   try {
      return plugin->restore(data, size);
   } catch (...) {
      return false;
   }
}

}  // namespace aers

#endif  // AERS_PLUGIN_UTIL_HPP
