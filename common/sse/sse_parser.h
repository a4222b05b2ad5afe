// Incremental Server-Sent Events framing (WHATWG "event stream" rules): fed the bytes of a
// stream in arbitrary pieces, it reports each complete event and keeps only the unfinished
// tail. Used by the data plane to see events while relaying them, and by tests.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace fwd::common::sse {

struct Event {
  std::string event;  // "event:" field; empty means "message"
  std::string data;   // "data:" lines joined with '\n'
  std::string id;
};

class SseParser {
 public:
  using Callback = std::function<void(const Event&)>;

  /// `max_event_bytes` bounds the memory one event (and the pending tail) may take. With an
  /// empty `on_event` the parser only counts events: it keeps none of their fields, so a
  /// relay that needs no more than the count copies nothing.
  explicit SseParser(Callback on_event, size_t max_event_bytes = 1 << 20)
      : on_event_(std::move(on_event)),
        keep_fields_(static_cast<bool>(on_event_)),
        max_event_bytes_(max_event_bytes) {}

  /// Consumes the next piece of the stream. Returns false once the stream broke a limit; the
  /// parser then ignores further input.
  bool feed(std::string_view bytes);

  /// Number of events dispatched so far.
  size_t eventCount() const { return events_; }
  bool failed() const { return failed_; }

 private:
  void processLine(std::string_view line);
  // A blank line: dispatches the event if it has data, and starts the next.
  void endEvent();

  Callback on_event_;
  bool keep_fields_;
  size_t max_event_bytes_;
  size_t data_bytes_ = 0;  // the current event's data so far, kept or not
  std::string line_;  // incomplete line carried over between feeds
  Event current_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
  bool failed_ = false;
  size_t events_ = 0;
};

}  // namespace fwd::common::sse
