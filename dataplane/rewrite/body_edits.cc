#include "dataplane/rewrite/body_edits.h"

#include <absl/container/inlined_vector.h>
#include <simdjson.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "dataplane/rewrite/answer_prefix.h"

namespace fwd::dataplane::rewrite {
namespace {

namespace od = simdjson::ondemand;
using Json = nlohmann::ordered_json;  // keeps the client's key order

// One replacement in the body: `len` bytes at `at` become `text`.
struct Splice {
  size_t at = 0;
  size_t len = 0;
  std::string text;
};
using Splices = absl::InlinedVector<Splice, 4>;

std::string_view trimRight(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

void pad(std::string& text) {
  if (text.capacity() < text.size() + simdjson::SIMDJSON_PADDING) {
    text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  }
}

std::string jsonString(std::string_view text) { return "\"" + escapeForJson(text) + "\""; }

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

// Whether some message of the array `span` (inside the padded `body`) is one the edits change:
// an empty one to drop, or an assistant message with a <think> block to strip. One on-demand
// pass; most requests need nothing, and their messages are never parsed into a tree.
bool messagesNeedEdit(od::parser& parser, const std::string& body, std::string_view span,
                      const BodyEdits& edits) {
  size_t offset = static_cast<size_t>(span.data() - body.data());
  simdjson::padded_string_view view(span.data(), span.size(), body.capacity() - offset);
  od::document doc;
  od::array messages;
  if (parser.iterate(view).get(doc) || doc.get_array().get(messages)) {
    return false;
  }
  for (auto element : messages) {
    od::object m;
    if (element.get_object().get(m)) {
      continue;
    }
    bool assistant = false;
    bool tool_call = false;
    bool empty = true;  // no content is empty content
    bool think = false;
    for (auto field : m) {
      std::string_view key;
      if (field.unescaped_key().get(key)) {
        return true;  // let the full parse decide
      }
      od::value v = field.value();
      if (key == "role") {
        std::string_view role;
        assistant = !v.get_string().get(role) && role == "assistant";
      } else if (key == "tool_calls" || key == "function_call") {
        tool_call = true;
      } else if (key == "content") {
        od::json_type type;
        if (v.type().get(type)) {
          return true;
        }
        if (type == od::json_type::string) {
          std::string_view token = v.raw_json_token();
          empty = trimRight(token) == "\"\"";
          think = token.find("<think>") != std::string_view::npos;
        } else if (type == od::json_type::array) {
          std::string_view raw;
          od::array parts;
          if (v.get_array().get(parts) || parts.raw_json().get(raw)) {
            return true;
          }
          empty = raw.find_first_not_of("[ \t\r\n]") == std::string_view::npos;
          think = raw.find("<think>") != std::string_view::npos;
        } else {
          empty = type == od::json_type::null;
        }
      }
    }
    if ((edits.drop_empty_messages && empty && !tool_call) ||
        (edits.strip_think && assistant && think)) {
      return true;
    }
  }
  return false;
}

// The messages array `span` with the edits applied (parsed into a tree: only when some
// message changes).
std::optional<std::string> editMessages(std::string_view span, const BodyEdits& edits) {
  Json messages = Json::parse(span, nullptr, false);
  if (!messages.is_array()) {
    return std::nullopt;
  }
  if (edits.drop_empty_messages) {
    messages.erase(std::remove_if(messages.begin(), messages.end(), isEmptyMessage),
                   messages.end());
  }
  if (edits.strip_think) {
    for (Json& m : messages) {
      stripThinkInMessage(m);
    }
  }
  return messages.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The client's "stop" (`raw`: a string, an array or anything else) with `words` added, without
// duplicates, as a JSON array.
std::string mergedStops(std::string_view raw, const std::vector<std::string>& words) {
  Json merged = Json::array();
  Json client = Json::parse(raw, nullptr, false);
  if (client.is_string()) {
    merged.push_back(std::move(client));
  } else if (client.is_array()) {
    merged = std::move(client);
  }
  for (const std::string& w : words) {
    if (std::find(merged.begin(), merged.end(), Json(w)) == merged.end()) {
      merged.push_back(w);
    }
  }
  return merged.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string stopsArray(const std::vector<std::string>& words) {
  std::string out = "[";
  for (const std::string& w : words) {
    out += (out.size() > 1 ? "," : "") + jsonString(w);
  }
  return out + "]";
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

namespace {

// The JSON text of `v` as it stands in the body: an object or array whole, any other value's
// token, without trailing whitespace. False when the JSON is malformed there.
bool rawJson(od::value& v, std::string_view& out) {
  od::json_type type;
  if (v.type().get(type)) {
    return false;
  }
  if (type == od::json_type::object) {
    od::object o;
    if (v.get_object().get(o) || o.raw_json().get(out)) {
      return false;
    }
  } else if (type == od::json_type::array) {
    od::array a;
    if (v.get_array().get(a) || a.raw_json().get(out)) {
      return false;
    }
  } else {
    out = v.raw_json_token();
  }
  out = trimRight(out);
  return true;
}

}  // namespace

bool applyBodyEdits(od::parser& parser, const BodyEdits& edits, std::string& body,
                    std::string& out) {
  pad(body);
  simdjson::padded_string_view view(body.data(), body.size(), body.capacity());
  od::document doc;
  od::object object;
  if (parser.iterate(view).get(doc) || doc.get_object().get(object)) {
    return false;
  }
  auto at = [&body](std::string_view token) {
    return static_cast<size_t>(token.data() - body.data());
  };
  Splices splices;
  std::string_view messages;
  size_t messages_splice = 0;
  bool has_tokens = false;
  bool has_stop = false;
  bool has_stream_options = false;
  bool has_stream = false;
  const bool no_stream = edits.stream && !*edits.stream;
  const bool include_usage = edits.include_usage && !no_stream;
  std::string_view stream_options;  // the client's object, merged once iteration is over
  size_t stream_options_splice = 0;
  bool any_field = false;
  for (auto field : object) {
    any_field = true;
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return false;
    }
    od::value v = field.value();
    od::json_type type;
    if (v.type().get(type)) {
      return false;
    }
    if (key == "model" && edits.model) {
      std::string_view token = trimRight(v.raw_json_token());
      splices.push_back(Splice{at(token), token.size(), jsonString(*edits.model)});
    } else if ((key == "max_tokens" || key == "max_completion_tokens") && edits.max_tokens_cap) {
      if (type == od::json_type::null) {
        if (key == "max_tokens") {  // null is no limit: the cap takes its place
          std::string_view token = trimRight(v.raw_json_token());
          splices.push_back(Splice{at(token), token.size(), std::to_string(*edits.max_tokens_cap)});
          has_tokens = true;
        }
        continue;
      }
      has_tokens = true;
      double asked = 0;
      // A number too large for a double is over any cap too.
      if (type == od::json_type::number &&
          (v.get_double().get(asked) || asked > *edits.max_tokens_cap)) {
        std::string_view token = trimRight(v.raw_json_token());
        splices.push_back(Splice{at(token), token.size(), std::to_string(*edits.max_tokens_cap)});
      }
    } else if (key == "stop" && !edits.stop.empty()) {
      has_stop = true;
      std::string_view raw;
      if (!rawJson(v, raw)) {
        return false;
      }
      splices.push_back(Splice{at(raw), raw.size(), mergedStops(raw, edits.stop)});
    } else if (key == "stream" && edits.stream) {
      has_stream = true;
      std::string_view token = trimRight(v.raw_json_token());
      splices.push_back(Splice{at(token), token.size(), *edits.stream ? "true" : "false"});
    } else if (key == "stream_options" && no_stream) {
      std::string_view raw;
      if (!rawJson(v, raw)) {
        return false;
      }
      splices.push_back(Splice{at(raw), raw.size(), "null"});
    } else if (key == "stream_options" && include_usage) {
      has_stream_options = true;
      std::string_view raw;
      if (!rawJson(v, raw)) {
        return false;
      }
      if (type == od::json_type::object) {
        stream_options = raw;  // merged once iteration is over
      }
      stream_options_splice = splices.size();
      splices.push_back(Splice{at(raw), raw.size(), R"({"include_usage":true})"});
    } else if (key == "messages" && type == od::json_type::array &&
               (edits.drop_empty_messages || edits.strip_think)) {
      od::array array;
      if (v.get_array().get(array) || array.raw_json().get(messages)) {
        return false;
      }
      messages = trimRight(messages);
      messages_splice = splices.size();
      splices.push_back(Splice{at(messages), messages.size(), std::string()});
    }
  }
  // The client's stream options keep theirs, with include_usage set (before the messages'
  // splice may go, which would move this one's index).
  if (!stream_options.empty()) {
    nlohmann::json options = nlohmann::json::parse(stream_options, nullptr, false);
    if (options.is_object()) {
      options["include_usage"] = true;
      splices[stream_options_splice].text = options.dump();
    }
  }
  // The messages are looked at once the body's own iteration is over (one parser).
  if (!messages.empty()) {
    std::optional<std::string> edited;
    if (messagesNeedEdit(parser, body, messages, edits)) {
      edited = editMessages(messages, edits);
    }
    if (edited) {
      splices[messages_splice].text = std::move(*edited);
    } else {
      splices.erase(splices.begin() + static_cast<std::ptrdiff_t>(messages_splice));
    }
  }
  // Fields the body lacks go in first, right after its opening brace.
  std::string added;
  if (edits.max_tokens_cap && !has_tokens) {
    added += "\"max_tokens\":" + std::to_string(*edits.max_tokens_cap);
  }
  if (!edits.stop.empty() && !has_stop) {
    added += (added.empty() ? "" : ",") + std::string("\"stop\":") + stopsArray(edits.stop);
  }
  if (edits.stream && !has_stream) {
    added += (added.empty() ? "" : ",") + std::string("\"stream\":") +
             (*edits.stream ? "true" : "false");
  }
  if (include_usage && !has_stream_options) {
    added += (added.empty() ? "" : ",") + std::string(R"("stream_options":{"include_usage":true})");
  }
  if (!added.empty()) {
    size_t brace = body.find('{');
    splices.insert(splices.begin(), Splice{brace + 1, 0, any_field ? added + "," : added});
  }
  out.clear();
  out.reserve(body.size() + 64);
  size_t from = 0;
  for (const Splice& s : splices) {
    out.append(body, from, s.at - from);
    out.append(s.text);
    from = s.at + s.len;
  }
  out.append(body, from, std::string::npos);
  return true;
}

}  // namespace fwd::dataplane::rewrite
