#include "dataplane/rewrite/body_edits.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace fwd::dataplane::rewrite {
namespace {

using Json = nlohmann::ordered_json;  // keeps the client's key order

void capTokens(Json& doc, std::uint32_t cap) {
  bool any = false;
  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    auto it = doc.find(field);
    if (it == doc.end() || it->is_null()) {
      continue;
    }
    any = true;
    if (it->is_number() && (it->is_number_float() ? it->get<double>() > cap
                                                  : it->get<std::int64_t>() > std::int64_t{cap})) {
      *it = cap;
    }
  }
  if (!any) {
    doc["max_tokens"] = cap;
  }
}

void addStops(Json& doc, const std::vector<std::string>& words) {
  Json merged = Json::array();
  auto it = doc.find("stop");
  if (it != doc.end() && it->is_string()) {
    merged.push_back(*it);
  } else if (it != doc.end() && it->is_array()) {
    merged = *it;
  }
  for (const std::string& w : words) {
    if (std::find(merged.begin(), merged.end(), Json(w)) == merged.end()) {
      merged.push_back(w);
    }
  }
  doc["stop"] = std::move(merged);
}

bool isEmptyMessage(const Json& m) {
  if (!m.is_object() || m.contains("tool_calls") || m.contains("function_call")) {
    return false;
  }
  auto content = m.find("content");
  return content == m.end() || content->is_null() ||
         (content->is_string() && content->get_ref<const std::string&>().empty()) ||
         (content->is_array() && content->empty());
}

void stripThinkInMessage(Json& m) {
  if (!m.is_object() || m.value("role", "") != "assistant") {
    return;
  }
  auto content = m.find("content");
  if (content == m.end()) {
    return;
  }
  if (content->is_string()) {
    *content = stripThink(content->get_ref<const std::string&>());
  } else if (content->is_array()) {
    for (Json& part : *content) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        part["text"] = stripThink(part["text"].get_ref<const std::string&>());
      }
    }
  }
}

}  // namespace

std::string stripThink(const std::string& text) {
  static constexpr std::string_view kOpen = "<think>";
  static constexpr std::string_view kClose = "</think>";
  std::string out;
  size_t at = 0;
  for (;;) {
    size_t open = text.find(kOpen, at);
    size_t close = open == std::string::npos ? open : text.find(kClose, open + kOpen.size());
    if (close == std::string::npos) {
      out.append(text, at, std::string::npos);
      return out;
    }
    out.append(text, at, open - at);
    at = close + kClose.size();
    while (at < text.size() &&
           (text[at] == ' ' || text[at] == '\n' || text[at] == '\r' || text[at] == '\t')) {
      ++at;
    }
  }
}

bool applyBodyEdits(const BodyEdits& edits, std::string_view body, std::string& out) {
  Json doc = Json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return false;
  }
  if (edits.model) {
    doc["model"] = *edits.model;
  }
  if (edits.max_tokens_cap) {
    capTokens(doc, *edits.max_tokens_cap);
  }
  if (!edits.stop.empty()) {
    addStops(doc, edits.stop);
  }
  auto messages = doc.find("messages");
  if (messages != doc.end() && messages->is_array()) {
    if (edits.drop_empty_messages) {
      messages->erase(std::remove_if(messages->begin(), messages->end(), isEmptyMessage),
                      messages->end());
    }
    if (edits.strip_think) {
      for (Json& m : *messages) {
        stripThinkInMessage(m);
      }
    }
  }
  out = doc.dump(-1, ' ', false, Json::error_handler_t::replace);
  return true;
}

}  // namespace fwd::dataplane::rewrite
