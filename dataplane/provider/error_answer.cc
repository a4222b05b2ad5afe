// OpenAI's error object from the error answers of upstreams that are not OpenAI's.
#include "dataplane/provider/provider.h"
#include "nlohmann/json.hpp"

namespace fwd::dataplane::provider {
std::string_view openAiErrorType(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "requests";
    default:
      return "invalid_request_error";
  }
}

namespace {

// A code that only repeats the status ("429", as Azure writes it) says nothing OpenAI's SDKs
// read: OpenAI's own code for it, or none.
std::string codeOf(int status, std::string code) {
  if (code != std::to_string(status)) {
    return code;
  }
  switch (status) {
    case 401:
      return "invalid_api_key";
    case 429:
      return "rate_limit_exceeded";
    default:
      return "";
  }
}

}  // namespace

proxy::ApiError openAiErrorFrom(int status, std::string_view body, std::string_view upstream_api) {
  proxy::ApiError e;
  e.status = status;
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  const nlohmann::json* error = nullptr;
  if (parsed.is_object()) {
    auto it = parsed.find("error");
    if (it != parsed.end() && it->is_object()) {
      error = &*it;
    } else if (it != parsed.end() && it->is_string()) {
      e.message = it->get<std::string>();
    } else if (parsed.contains("message")) {
      error = &parsed;  // {"statusCode": 401, "message": "..."}
    }
  }
  if (error != nullptr) {
    auto text = [&](const char* name) -> std::string {
      auto it = error->find(name);
      if (it == error->end()) {
        return "";
      }
      if (it->is_number_integer()) {
        return std::to_string(it->get<std::int64_t>());
      }
      return it->is_string() ? it->get<std::string>() : std::string();
    };
    e.message = text("message");
    e.type = text("type");
    e.code = text("code");
    if (e.code.empty()) {
      e.code = text("statusCode");
    }
    e.param = text("param");
  }
  if (e.message.empty()) {
    e.message = std::string(upstream_api) + " answered " + std::to_string(status);
    std::string_view start = body.substr(0, 200);
    if (!start.empty() && !parsed.is_object()) {
      e.message += ": " + std::string(start);
    }
  }
  if (e.type.empty()) {
    e.type = openAiErrorType(status);
  }
  e.code = codeOf(status, std::move(e.code));
  return e;
}

}  // namespace fwd::dataplane::provider
