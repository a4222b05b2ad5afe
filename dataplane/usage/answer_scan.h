// What a request record needs from an upstream's answer, read as its bytes pass by on the relay's
// byte-for-byte path, without holding or changing them: the last `usage` object (of a
// chat.completion, a text_completion, a stream's usage chunk, or a Responses API answer or
// event, at any depth), whether it called tools, and how much content it carried for an estimate
// when no usage came. A JSON body and an SSE stream are scanned alike (`data:` lines are only
// text between JSON values), however the upstream split them over reads.
//
// A small JSON tokenizer that follows strings and keys only: bytes inside strings are skipped
// with memchr, so a 1 MB base64 image costs a memchr, not a byte loop. A raw newline inside a
// "string" cannot be JSON, so it ends the string (a stream's framing can never desynchronise the
// scan for more than one line). Worker thread; one per request.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/usage/usage.h"

namespace fwd::dataplane::usage {

class AnswerScanner {
 public:
  /// The most of one usage object kept; a longer one is not read.
  static constexpr size_t kMaxUsageBytes = 4096;

  /// The next bytes of the answer's payload (without HTTP chunk framing).
  void feed(std::string_view bytes);

  /// The last usage object seen whole ("{...}"), or empty.
  std::string_view usageJson() const { return usage_; }
  /// Some message carried a non-empty tool_calls (or a Responses function_call).
  bool toolCalls() const { return tool_calls_; }
  /// Non-empty "content", "text", "reasoning_content", "refusal", "delta" or "arguments" strings,
  /// and their bytes (as sent, escapes included).
  std::uint64_t contentStrings() const { return content_strings_; }
  std::uint64_t contentBytes() const { return content_bytes_; }
  /// Every byte fed.
  std::uint64_t bytes() const { return bytes_; }

 private:
  enum class State : std::uint8_t {
    kOut,        // between JSON strings
    kString,     // in a string
    kAfterKey,   // after a key of interest and its ':' (or before the ':')
    kUsage,      // copying a usage object
    kToolArray,  // after "tool_calls": [ , before its first element
  };
  enum class Key : std::uint8_t { kNone, kUsage, kToolCalls, kContent, kType };

  size_t scanString(std::string_view b, size_t i);
  size_t scanUsage(std::string_view b, size_t i);
  void endString();

  State state_ = State::kOut;
  Key key_ = Key::kNone;       // the key whose value comes next (kAfterKey)
  bool colon_ = false;         // kAfterKey: the ':' was seen
  bool value_string_ = false;  // kString: it is the value of key_, not a key
  bool escaped_ = false;       // kString: the previous byte was an unescaped backslash
  std::string name_;           // kString: the string so far while it may still be a key of interest
  bool name_overflow_ = false;
  std::uint64_t string_bytes_ = 0;
  Key last_key_ = Key::kNone;     // the last string closed, if it named a key of interest
  bool last_type_value_ = false;  // kString value of "type": compare with "function_call"
  // kUsage
  std::string copy_;
  int depth_ = 0;
  bool copy_in_string_ = false;
  bool copy_escaped_ = false;

  std::string usage_;
  bool tool_calls_ = false;
  std::uint64_t content_strings_ = 0;
  std::uint64_t content_bytes_ = 0;
  std::uint64_t bytes_ = 0;
};

/// Reads a bare usage object (AnswerScanner::usageJson) into `out`: chat and completions naming
/// (prompt_tokens, completion_tokens, prompt_tokens_details.cached_tokens,
/// completion_tokens_details.reasoning_tokens) or the Responses API's (input_tokens,
/// output_tokens, input_tokens_details.cached_tokens, output_tokens_details.reasoning_tokens).
/// False when it is not an object with any of them. `json` may grow in capacity for padding.
bool readUsageObject(simdjson::ondemand::parser& parser, std::string& json, Usage& out);

}  // namespace fwd::dataplane::usage
