#include "dataplane/usage/usage.h"

#include <algorithm>

namespace fwd::dataplane::usage {
namespace {

namespace od = simdjson::ondemand;

simdjson::padded_string_view padded(std::string& json) {
  if (json.capacity() < json.size() + simdjson::SIMDJSON_PADDING) {
    json.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  }
  return simdjson::padded_string_view(json.data(), json.size(), json.capacity());
}

std::uint64_t count(od::object& usage, std::string_view field) {
  std::uint64_t n = 0;
  if (usage.find_field_unordered(field).get_uint64().get(n)) {
    return 0;
  }
  return n;
}

// True when `json` has a "usage" key whose value is an object: a cheap look at the bytes, so a
// stream's chunks that carry "usage":null (all but the last, once include_usage is set) are
// never parsed.
bool mayHoldUsage(std::string_view json) {
  for (size_t at = json.find("\"usage\""); at != std::string_view::npos;
       at = json.find("\"usage\"", at + 1)) {
    size_t v = at + 7;
    while (v < json.size() && (json[v] == ' ' || json[v] == ':' || json[v] == '\n' ||
                               json[v] == '\r' || json[v] == '\t')) {
      ++v;
    }
    if (v < json.size() && json[v] == '{') {
      return true;
    }
  }
  return false;
}

}  // namespace

bool readUsage(od::parser& parser, std::string& json, Usage& out) {
  if (!mayHoldUsage(json)) {
    return false;  // most stream events: no parse at all
  }
  od::document doc;
  od::object usage;
  if (parser.iterate(padded(json)).get(doc) || doc.find_field_unordered("usage").get(usage)) {
    return false;
  }
  Usage u;
  u.prompt = count(usage, "prompt_tokens");
  u.completion = count(usage, "completion_tokens");
  u.total = count(usage, "total_tokens");
  od::object details;
  if (!usage.find_field_unordered("prompt_tokens_details").get_object().get(details)) {
    u.cached = std::min(count(details, "cached_tokens"), u.prompt);
  }
  if (u.total == 0) {
    u.total = u.prompt + u.completion;
  }
  u.reported = true;
  u.content_events = out.content_events;
  out = u;
  return true;
}

bool readUsageObject(od::parser& parser, std::string& json, Usage& out) {
  return readUsageObject(parser, padded(json), out);
}

bool readUsageObject(od::parser& parser, simdjson::padded_string_view json, Usage& out) {
  od::document doc;
  od::object object;
  if (parser.iterate(json).get(doc) || doc.get_object().get(object)) {
    return false;
  }
  Usage u;
  bool any = false;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return false;
    }
    od::value v = field.value();
    std::uint64_t n = 0;
    if (key == "prompt_tokens" || key == "input_tokens") {
      if (!v.get_uint64().get(n)) {
        any = true;
        u.prompt = n;
      }
    } else if (key == "completion_tokens" || key == "output_tokens") {
      if (!v.get_uint64().get(n)) {
        any = true;
        u.completion = n;
      }
    } else if (key == "total_tokens") {
      if (!v.get_uint64().get(n)) {
        u.total = n;
      }
    } else if (key == "prompt_tokens_details" || key == "input_tokens_details") {
      od::object details;
      if (!v.get_object().get(details) &&
          !details.find_field_unordered("cached_tokens").get_uint64().get(n)) {
        u.cached = n;
      }
    } else if (key == "completion_tokens_details" || key == "output_tokens_details") {
      od::object details;
      if (!v.get_object().get(details) &&
          !details.find_field_unordered("reasoning_tokens").get_uint64().get(n)) {
        u.reasoning = n;
      }
    }
  }
  if (!any) {
    return false;
  }
  u.cached = std::min(u.cached, u.prompt);
  u.reasoning = std::min(u.reasoning, u.completion);
  if (u.total == 0) {
    u.total = u.prompt + u.completion;
  }
  u.reported = true;
  out = u;
  return true;
}

bool readAsk(od::parser& parser, std::string& body, Ask& out) {
  od::document doc;
  od::object object;
  if (parser.iterate(padded(body)).get(doc) || doc.get_object().get(object)) {
    return false;
  }
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return false;
    }
    if (key == "max_tokens" || key == "max_completion_tokens") {
      std::uint64_t n = 0;
      if (!field.value().get_uint64().get(n)) {
        out.max_tokens = std::max(out.max_tokens, n);
      }
    } else if (key == "stream_options") {
      od::object options;
      bool include = false;
      if (!field.value().get_object().get(options) &&
          !options.find_field_unordered("include_usage").get_bool().get(include)) {
        out.include_usage = include;
      }
    }
  }
  return true;
}

bool isUsageOnlyEvent(od::parser& parser, std::string& data) {
  if (!mayHoldUsage(data)) {
    return false;
  }
  od::document doc;
  od::object object;
  if (parser.iterate(padded(data)).get(doc) || doc.get_object().get(object)) {
    return false;
  }
  bool has_usage = false;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return false;
    }
    od::value v = field.value();
    if (key == "choices") {
      od::array choices;
      size_t n = 0;
      if (v.get_array().get(choices) || choices.count_elements().get(n) || n > 0) {
        return false;
      }
    } else if (key == "usage") {
      od::json_type type;
      has_usage = !v.type().get(type) && type == od::json_type::object;
    }
  }
  return has_usage;
}

bool carriesContent(std::string_view data) {
  for (std::string_view field : {std::string_view("\"content\":"), std::string_view("\"text\":")}) {
    for (size_t at = data.find(field); at != std::string_view::npos;
         at = data.find(field, at + 1)) {
      size_t v = at + field.size();
      while (v < data.size() && data[v] == ' ') {
        ++v;
      }
      if (v + 1 < data.size() && data[v] == '"' && data[v + 1] != '"') {
        return true;
      }
    }
  }
  return false;
}

}  // namespace fwd::dataplane::usage
