// Stream conversion (`--stream-mode` of upstreams and routes): what fwd asks of an upstream may
// differ from what the client asked, and the answer is turned into the shape the client expects.
// - A client that did not ask for a stream, an upstream asked for one: the chunk events are
//   assembled into one chat.completion (or text_completion): content, refusal, reasoning
//   content, tool calls put together from their deltas, finish reasons, logprobs, every choice
//   (n > 1) and the usage of the last chunk.
// - A client that asked for a stream, an upstream asked for none: the JSON answer becomes the
//   chunk events a real stream has: the role, the content, the tool calls, the finish reason, a
//   usage chunk when the client asked for it (stream_options.include_usage), then [DONE].
// Either way nothing reaches the client before the upstream's answer is whole, so an answer that
// breaks or carries an error is an error answer (or a failed attempt another upstream may take),
// never half a conversion. Worker thread; one per answer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/proxy/errors.h"

namespace fwd::dataplane::stream {

/// The two APIs whose answers convert: chat completions and (legacy) text completions.
enum class Api : std::uint8_t { kChat, kCompletions };

/// The API of `api_path` ("/v1/chat/completions", no query) whose answers convert, or nullopt.
std::optional<Api> convertibleApi(std::string_view api_path);

/// The most of an answer a conversion holds; past it the answer fails (502).
inline constexpr size_t kMaxConvertedAnswer = 8 * 1024 * 1024;

class AnswerConverter {
 public:
  enum class Direction : std::uint8_t {
    kStreamToJson,  // the client gets one JSON answer
    kJsonToStream,  // the client gets a stream
  };
  /// `include_usage`: a stream's client asked for the usage chunk.
  AnswerConverter(Direction direction, Api api, bool include_usage);
  ~AnswerConverter();
  AnswerConverter(const AnswerConverter&) = delete;
  AnswerConverter& operator=(const AnswerConverter&) = delete;

  Direction direction() const { return direction_; }
  /// The Content-Type the client gets.
  std::string_view contentType() const;

  /// The next bytes of the upstream's answer payload (no chunk framing).
  void feed(std::string_view payload);
  /// The answer is whole: the client's answer goes to out(); or the error the answer carried, or
  /// why it cannot be converted (an event or body that is not JSON, nothing at all, too much).
  /// The error's message names no upstream: the caller adds it.
  std::optional<proxy::ApiError> finish();
  /// The error finish() returned is one the upstream put in its answer (not a failure to
  /// convert).
  bool upstreamSentError() const { return upstream_error_; }
  /// What goes to the client; the caller clears it once written.
  std::string& out() { return out_; }

 private:
  struct Assembly;

  Direction direction_;
  Api api_;
  bool include_usage_;
  std::string held_;                    // kJsonToStream: the JSON answer so far
  std::unique_ptr<Assembly> assembly_;  // kStreamToJson
  bool too_big_ = false;
  bool upstream_error_ = false;
  std::string out_;
};

/// The chunk events of a stream (each "data: {...}\n\n", then "data: [DONE]\n\n") for the JSON
/// answer `json` of `api`; an error when `json` is not an answer (or is an error object).
std::optional<proxy::ApiError> eventsFromJson(Api api, std::string_view json, bool include_usage,
                                              std::string& out);

}  // namespace fwd::dataplane::stream
