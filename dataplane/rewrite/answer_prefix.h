// The answer prefix (fwdctl upstream|route add|update --answer-prefix TEXT, seed GPT_API's
// special_prefix): the text goes in front of the content of the first choice (index 0) of a
// chat or text completion's 2xx answer: its message content in a JSON answer, its first content
// delta in a stream, however the upstream split the stream's events. Nowhere else: not in other
// choices, later deltas, tool calls or error answers. A choice whose content is null (a tool
// call) gets none.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

#include "dataplane/policy/policy.h"

namespace fwd::dataplane::rewrite {

/// `text` as the inside of a JSON string (quotes, backslashes and control characters escaped).
std::string escapeForJson(std::string_view text);

/// Prepends the prefix (`escaped_prefix`, from escapeForJson) to choice 0 of a whole JSON answer
/// ("message.content" for chat, "text" for text completions). False, `body` untouched, when the
/// answer has no such string. Only the prefix is inserted: the rest of the body stays as the
/// upstream wrote it, and nothing past choice 0's content is parsed. `body` may grow capacity.
bool prefixAnswer(simdjson::ondemand::parser& parser, std::string& body,
                  std::string_view escaped_prefix);

/// The same for the data of one stream event ("delta.content" or "text" of choice 0). False,
/// `data` untouched, when this event carries no content of choice 0 (the prefix waits for the
/// next one).
bool prefixStreamEvent(simdjson::ondemand::parser& parser, std::string& data,
                       std::string_view escaped_prefix);

class AnswerPrefix final : public policy::Policy {
 public:
  std::string_view name() const override { return "answer_prefix"; }
  unsigned hooks() const override { return policy::kOnAnswer; }

  bool wantsAnswer(const pipeline::RequestContext& ctx, policy::WorkerSlot* slot) const override;
  bool onAnswer(pipeline::RequestContext& ctx, policy::AnswerPart& part,
                policy::WorkerSlot* slot) const override;
};

}  // namespace fwd::dataplane::rewrite
