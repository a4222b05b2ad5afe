// What a request record needs from an upstream's answer, read as its bytes pass by on the relay's
// byte-for-byte path, without holding or changing them: the last `usage` object (of a
// chat.completion, a text_completion, a stream's usage chunk, or a Responses API answer or
// event) and whether the answer called tools. Every API puts both at the end of an answer (the
// usage chunk is a stream's last event before [DONE]; `usage` and `finish_reason` close a JSON
// answer), so only the answer's last kTailBytes are kept and looked at once it is over: what
// passes costs a copy of at most those bytes, however long the answer. A JSON body and an SSE
// stream are read alike. Worker thread; one per request.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/usage/usage.h"

namespace fwd::dataplane::usage {

class AnswerScanner {
 public:
  /// The end of the answer kept (at least this much once the answer is longer).
  static constexpr size_t kTailBytes = 2048;

  /// `tail` is storage reused from request to request (the connection's); it is cleared, and
  /// given room for the padding a JSON parser reads past a usage object (End::readable).
  explicit AnswerScanner(std::string& tail);

  /// The next bytes of the answer's payload (without HTTP chunk framing).
  void feed(std::string_view bytes);

  struct End {
    std::string_view usage;   // the last usage object whole in the tail ("{...}"), or empty
    size_t readable = 0;      // bytes that may be read from usage.data() on (padding included)
    bool tool_calls = false;  // a non-empty tool_calls, finish_reason "tool_calls", or a
                              // Responses function_call
  };
  /// What the end of the answer says. Views into the tail, valid until the next feed.
  End end() const;

  /// Every byte fed.
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::string& tail_;
  std::uint64_t bytes_ = 0;
};

}  // namespace fwd::dataplane::usage
