// The relay's events path: an upstream's 2xx answer read by the kOnAnswer policies that asked
// for it (policy.h). A stream is cut into its SSE events, however the upstream split them over
// reads and chunks; each event's data goes through the policies, and an event no policy changed
// goes out as it came, and one a policy drops not at all. A JSON answer is held whole, then
// handed over once. As soon as no policy
// wants more, the rest of the answer passes through unparsed. The relay frames what comes out
// (its length changed) as chunks of its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::pipeline {

/// The most of a JSON answer held for the policies; a longer one goes out unedited.
inline constexpr size_t kMaxHeldAnswer = 8 * 1024 * 1024;
/// The most of one stream event held; past it the rest of the stream goes out unedited.
inline constexpr size_t kMaxHeldEvent = 1024 * 1024;

class AnswerEditor {
 public:
  AnswerEditor(RequestContext& ctx, policy::Chain::Readers readers, bool stream)
      : ctx_(ctx), readers_(readers), stream_(stream) {}

  /// The next piece of the answer's payload (without the upstream's chunk framing).
  void feed(std::string_view payload);
  /// The answer is complete: releases what is held.
  void finish();
  /// What may go to the client now; the relay clears it once written.
  std::string& out() { return out_; }
  /// Paced events in out(): where each starts and the tokens it carries; the relay writes what
  /// is before each, waits for the stream's pace, then goes on, and clears this with out().
  struct Pause {
    size_t at = 0;
    std::uint32_t tokens = 0;
  };
  std::vector<Pause>& pauses() { return pauses_; }

 private:
  void passEvents();
  void passEvent(std::string_view event);

  RequestContext& ctx_;
  policy::Chain::Readers readers_;
  bool stream_;
  std::string held_;     // a stream: the event not complete yet; a JSON answer: all of it so far
  size_t searched_ = 0;  // a stream: bytes of held_ known to hold no event end
  std::string out_;
  std::vector<Pause> pauses_;
  std::string data_;  // the data of the event at hand
};

}  // namespace fwd::dataplane::pipeline
