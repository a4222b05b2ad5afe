#include "dataplane/rewrite/answer_prefix.h"

#include <simdjson.h>

#include "common/text/json_escape.h"
#include "dataplane/pipeline/request_context.h"
#include "dataplane/rewrite/request_edits.h"

namespace fwd::dataplane::rewrite {
namespace {

namespace od = simdjson::ondemand;

constexpr size_t kNone = std::string::npos;

// Choice 0 of an object's "choices": the element with "index": 0, else the first without an
// index. Its content string under `holder` ("message" or "delta"), or its "text": the offset in
// `json` just past the string's opening quote; kNone when there is none. One on-demand pass
// that stops there: nothing after choice 0's content is read.
size_t contentOffset(od::parser& parser, std::string& json, const char* holder) {
  if (json.capacity() < json.size() + simdjson::SIMDJSON_PADDING) {
    json.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  }
  simdjson::padded_string_view view(json.data(), json.size(), json.capacity());
  od::document doc;
  od::array choices;
  if (parser.iterate(view).get(doc) ||
      doc.find_field_unordered("choices").get_array().get(choices)) {
    return kNone;
  }
  for (auto element : choices) {
    od::object choice;
    if (element.get_object().get(choice)) {
      return kNone;
    }
    std::int64_t index = 0;
    auto index_field = choice.find_field_unordered("index");
    if (index_field.error() == simdjson::SUCCESS && index_field.get_int64().get(index)) {
      continue;
    }
    if (index_field.error() != simdjson::SUCCESS &&
        index_field.error() != simdjson::NO_SUCH_FIELD) {
      return kNone;
    }
    if (index != 0) {
      continue;
    }
    od::value content;
    od::object in;
    auto holder_field = choice.find_field_unordered(holder);
    if (holder_field.error() == simdjson::SUCCESS) {
      if (holder_field.get_object().get(in) || in.find_field_unordered("content").get(content)) {
        return kNone;
      }
    } else if (holder_field.error() != simdjson::NO_SUCH_FIELD ||
               choice.find_field_unordered("text").get(content)) {
      return kNone;
    }
    od::json_type type;
    if (content.type().get(type) || type != od::json_type::string) {
      return kNone;
    }
    std::string_view token = content.raw_json_token();
    if (token.empty() || token.front() != '"') {
      return kNone;
    }
    return static_cast<size_t>(token.data() - json.data()) + 1;
  }
  return kNone;
}

bool insertPrefix(od::parser& parser, std::string& json, std::string_view escaped_prefix,
                  const char* holder) {
  size_t at = contentOffset(parser, json, holder);
  if (at == kNone || at > json.size()) {
    return false;
  }
  json.insert(at, escaped_prefix);
  return true;
}

}  // namespace

std::string escapeForJson(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  common::text::appendJsonEscaped(out, text);
  return out;
}

bool prefixAnswer(od::parser& parser, std::string& body, std::string_view escaped_prefix) {
  return insertPrefix(parser, body, escaped_prefix, "message");
}

bool prefixStreamEvent(od::parser& parser, std::string& data, std::string_view escaped_prefix) {
  return insertPrefix(parser, data, escaped_prefix, "delta");
}

bool AnswerPrefix::wantsAnswer(const pipeline::RequestContext& ctx,
                               policy::WorkerSlot* /*slot*/) const {
  return ctx.upstream != nullptr && isEditablePath(ctx.path) &&
         !config::attemptEdits(ctx.route, *ctx.upstream).answer_prefix.empty();
}

bool AnswerPrefix::onAnswer(pipeline::RequestContext& ctx, policy::AnswerPart& part,
                            policy::WorkerSlot* /*slot*/) const {
  const std::string& prefix = config::attemptEdits(ctx.route, *ctx.upstream).answer_prefix_json;
  if (!part.stream) {
    prefixAnswer(ctx.w.json, part.data, prefix);
    return false;
  }
  return !prefixStreamEvent(ctx.w.json, part.data, prefix);  // done once the prefix is in
}

}  // namespace fwd::dataplane::rewrite
