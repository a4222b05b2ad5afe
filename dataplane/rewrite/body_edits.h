// Edits to a JSON request body that several features ask for — the model a route rewrites to,
// and the request edits of upstreams and routes (a max_tokens cap, stop words, dropping empty
// messages, stripping <think> blocks from the history) — applied together in one on-demand pass
// that splices the changed values into the body: every other byte stays as the client sent it.
// Only a messages array that really changes (an empty message, an assistant's <think> block) is
// parsed into a tree and written again. A body nothing edits is never looked at here.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fwd::dataplane::rewrite {

struct BodyEdits {
  /// Sets "model".
  std::optional<std::string> model;
  /// Clamps "max_tokens" and "max_completion_tokens" to at most this; sets "max_tokens" to it
  /// when the body has neither. Never 0.
  std::optional<std::uint32_t> max_tokens_cap;
  /// Added to the client's "stop" (a string or an array), keeping the client's first and
  /// leaving out duplicates; the result is an array.
  std::vector<std::string> stop;
  /// Removes messages whose content is empty ("", null, []) and that carry no tool or function
  /// call.
  bool drop_empty_messages = false;
  /// Removes "<think>...</think>" blocks (and the whitespace after each) from the content of
  /// assistant messages: reasoning a model produced earlier, sent back as history.
  bool strip_think = false;
  /// Sets "stream_options": {"include_usage": true}, keeping the client's other stream options:
  /// the upstream then ends the stream with a chunk that reports its usage.
  bool include_usage = false;
  /// Sets "stream" (stream conversion, stream/convert.h). false also sets "stream_options" to
  /// null (upstreams refuse stream options without a stream) and wins over include_usage.
  std::optional<bool> stream;

  bool empty() const {
    return !model && !max_tokens_cap && stop.empty() && !drop_empty_messages && !strip_think &&
           !include_usage && !stream;
  }
  bool operator==(const BodyEdits&) const = default;
};

/// Applies `edits` to `body`, which must be a JSON object: true when it is one and `out` holds
/// the edited body; false, `out` untouched, when it is not. `body` keeps its content (its
/// capacity may grow for simdjson's padding).
bool applyBodyEdits(simdjson::ondemand::parser& parser, const BodyEdits& edits, std::string& body,
                    std::string& out);

/// `text` without its closed <think>...</think> blocks and the whitespace after each.
std::string stripThink(const std::string& text);

}  // namespace fwd::dataplane::rewrite
