// `fwdctl logs convert`: request records with bodies (a route or key with --log-bodies) as the
// chat log of openai-forward, a JSON array of {datetime, ip, model, messages, assistant,
// is_tool_calls}, one element per chat completion. The assistant's turn is read from the
// answer the client got: a chat.completion's first choice, or a stream's chunks put back
// together (content deltas joined, tool calls assembled from their deltas by index).
#pragma once

#include <optional>
#include <string_view>

#include "cli/commands/format.h"
#include "fwd/v1/records.pb.h"

namespace fwd::cli::commands {

struct AssistantTurn {
  std::string content;
  Json tool_calls = Json::array();  // [{id, type, function: {name, arguments}}]
};

/// The first choice's content and tool calls of a chat.completion (JSON) or of a
/// chat.completion.chunk stream (SSE); what a cut body still holds is kept.
AssistantTurn assistantTurn(std::string_view answer);

/// The chat-log element of `r`, or nullopt when it is not a chat completion whose whole
/// request body was kept (no body, a cut one, not JSON, no messages).
std::optional<Json> chatLogEntry(const fwd::v1::Record& r);

}  // namespace fwd::cli::commands
