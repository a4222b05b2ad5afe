#include "dataplane/rewrite/answer_prefix.h"

#include <nlohmann/json.hpp>

#include "dataplane/pipeline/request_context.h"
#include "dataplane/rewrite/request_edits.h"

namespace fwd::dataplane::rewrite {
namespace {

using Json = nlohmann::ordered_json;  // keeps the upstream's key order

// Choice 0 of `doc`'s "choices": the element with "index": 0, else the first without an index.
Json* firstChoice(Json& doc) {
  auto choices = doc.find("choices");
  if (!doc.is_object() || choices == doc.end() || !choices->is_array()) {
    return nullptr;
  }
  for (Json& choice : *choices) {
    if (!choice.is_object()) {
      continue;
    }
    auto index = choice.find("index");
    if (index == choice.end() || (index->is_number_integer() && index->get<std::int64_t>() == 0)) {
      return &choice;
    }
  }
  return nullptr;
}

// Prepends to choice 0's content under `holder` ("message" or "delta"), or to its "text".
bool prefixChoice(std::string& text, std::string_view prefix, const char* holder) {
  Json doc = Json::parse(text, nullptr, false);
  Json* choice = doc.is_discarded() ? nullptr : firstChoice(doc);
  if (choice == nullptr) {
    return false;
  }
  Json* content = nullptr;
  auto in = choice->find(holder);
  if (in != choice->end() && in->is_object()) {
    auto c = in->find("content");
    content = c != in->end() && c->is_string() ? &*c : nullptr;
  } else {
    auto t = choice->find("text");
    content = t != choice->end() && t->is_string() ? &*t : nullptr;
  }
  if (content == nullptr) {
    return false;
  }
  *content = std::string(prefix) + content->get_ref<const std::string&>();
  text = doc.dump(-1, ' ', false, Json::error_handler_t::replace);
  return true;
}

}  // namespace

bool prefixAnswer(std::string& body, std::string_view prefix) {
  return prefixChoice(body, prefix, "message");
}

bool prefixStreamEvent(std::string& data, std::string_view prefix) {
  return prefixChoice(data, prefix, "delta");
}

bool AnswerPrefix::wantsAnswer(const pipeline::RequestContext& ctx,
                               policy::WorkerSlot* /*slot*/) const {
  return ctx.upstream != nullptr && isEditablePath(ctx.path) &&
         !config::attemptEdits(ctx.route, *ctx.upstream).answer_prefix.empty();
}

bool AnswerPrefix::onAnswer(const pipeline::RequestContext& ctx, policy::AnswerPart& part,
                            policy::WorkerSlot* /*slot*/) const {
  const std::string& prefix = config::attemptEdits(ctx.route, *ctx.upstream).answer_prefix;
  if (!part.stream) {
    prefixAnswer(part.data, prefix);
    return false;
  }
  return !prefixStreamEvent(part.data, prefix);  // done once the prefix is in
}

}  // namespace fwd::dataplane::rewrite
