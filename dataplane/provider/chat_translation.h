// What the providers that translate OpenAI's chat API into another (dashscope.cc, replicate.cc)
// share: the request's first checks, refusing a parameter by name, and the
// chat.completion.chunk events they write. Only those providers' upstreams use it, never the
// passthrough path.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/proxy/errors.h"

namespace fwd::dataplane::provider::chat {

using Json = nlohmann::ordered_json;

template <size_t N>
bool among(const std::string_view (&names)[N], std::string_view name) {
  for (std::string_view n : names) {
    if (n == name) {
      return true;
    }
  }
  return false;
}

/// 400 unsupported_parameter naming `param`.
inline proxy::ApiError unsupported(const std::string& param, const std::string& why) {
  return proxy::invalidRequest(400, "Parameter '" + param + "' " + why, "unsupported_parameter",
                               param);
}

/// The body of a request to `api_path` as a JSON object into `out`, or the client's error: 404
/// unsupported_endpoint for anything but chat completions (`api`: the API as messages name it,
/// e.g. "Replicate (provider replicate)"), 400 for a body that is not a JSON object.
inline std::optional<proxy::ApiError> chatRequest(std::string_view api_path, std::string_view body,
                                                  std::string_view api, Json& out) {
  if (api_path != "/v1/chat/completions") {
    return proxy::ApiError{404, "invalid_request_error", "unsupported_endpoint",
                           std::string(api) + " is translated for /v1/chat/completions only, not " +
                               std::string(api_path),
                           ""};
  }
  out = Json::parse(body, nullptr, false);
  if (!out.is_object()) {
    return proxy::invalidRequest(400, "The request body is not a JSON object.", "invalid_json");
  }
  return std::nullopt;
}

/// A JSON string with something in it (json::empty() is false for every string).
inline bool nonEmptyString(const Json& v) {
  return v.is_string() && !v.get_ref<const std::string&>().empty();
}

/// `object`'s string field `name`, or "".
inline std::string stringField(const Json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// Seconds since the epoch: a translated answer's `created`.
inline std::int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Appends the event "data: <chunk>\n\n" of a chat.completion.chunk with `choices` (and `usage`
/// unless null).
inline void appendChunk(std::string& out, const std::string& id, std::int64_t created,
                        const std::string& model, Json choices, Json usage = nullptr) {
  Json chunk = {{"id", id},
                {"object", "chat.completion.chunk"},
                {"created", created},
                {"model", model},
                {"choices", std::move(choices)}};
  if (!usage.is_null()) {
    chunk["usage"] = std::move(usage);
  }
  out += "data: ";
  out += chunk.dump(-1, ' ', false, Json::error_handler_t::replace);
  out += "\n\n";
}

}  // namespace fwd::dataplane::provider::chat
