// The tokens an answer used, as the upstream reported them in OpenAI's `usage` object (of a
// chat.completion, a text_completion, or the last chunk of a stream asked for with
// stream_options.include_usage), or as fwd estimated them when it reported none. Read with
// simdjson On-Demand: the answer's choices are skipped, never built into a tree.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace fwd::dataplane::usage {

struct Usage {
  std::uint64_t prompt = 0;
  std::uint64_t completion = 0;
  std::uint64_t total = 0;      // prompt + completion when the upstream gave no total
  std::uint64_t cached = 0;     // of prompt: prompt_tokens_details.cached_tokens
  std::uint64_t reasoning = 0;  // of completion: completion_tokens_details.reasoning_tokens
  bool reported = false;        // read from the answer; false: nothing read (or estimated)
  bool estimated = false;       // fwd's estimate: no usage came with the answer
  // What estimates are made from: chunks of a stream that carried content.
  std::uint64_t content_events = 0;
};

/// The "usage" object at the top of `json` (an answer, or one stream event's data), or false
/// when there is none (absent, null, not an object, or `json` not JSON). `json` may grow in
/// capacity for simdjson's padding.
bool readUsage(simdjson::ondemand::parser& parser, std::string& json, Usage& out);

/// Reads a bare usage object (as answer_scan.h finds it) into `out`: chat and completions naming
/// (prompt_tokens, completion_tokens, prompt_tokens_details.cached_tokens,
/// completion_tokens_details.reasoning_tokens) or the Responses API's (input_tokens,
/// output_tokens, input_tokens_details.cached_tokens, output_tokens_details.reasoning_tokens).
/// False when it is not an object with any of them. `json` may grow in capacity for padding.
bool readUsageObject(simdjson::ondemand::parser& parser, std::string& json, Usage& out);
/// The same, read in place: `json` must be followed by simdjson::SIMDJSON_PADDING readable bytes.
bool readUsageObject(simdjson::ondemand::parser& parser, simdjson::padded_string_view json,
                     Usage& out);

/// A stream event's data that carries a usage object and no choice: the extra chunk an upstream
/// sends when stream_options.include_usage is set. Checks the bytes first, parses only then.
bool isUsageOnlyEvent(simdjson::ondemand::parser& parser, std::string& data);

/// True when a stream event's data carries a non-empty "content" (or "text") string: what a
/// completion without reported usage is estimated from, about one token per such event.
bool carriesContent(std::string_view data);

/// What a request body asks that a token reservation needs to know.
struct Ask {
  std::uint64_t max_tokens = 0;  // max_tokens or max_completion_tokens; 0: not given
  bool include_usage = false;    // stream_options.include_usage is true
};
/// Reads them from a JSON request body (false when it is not a JSON object).
bool readAsk(simdjson::ondemand::parser& parser, std::string& body, Ask& out);

/// About how many tokens `bytes` bytes of text or JSON are: one per 4 bytes, rounded up.
inline std::uint64_t estimateTokens(std::uint64_t bytes) { return (bytes + 3) / 4; }

}  // namespace fwd::dataplane::usage
