#include "dataplane/proxy/errors.h"

#include <nlohmann/json.hpp>

namespace fwd::dataplane::proxy {

std::string errorBody(const ApiError& e) {
  nlohmann::json error = {
      {"message", e.message},
      {"type", e.type},
      {"param", e.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.param)},
      {"code", e.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.code)},
  };
  // Replace invalid UTF-8 (e.g. echoed from a client's model name) instead of throwing.
  return nlohmann::json{{"error", error}}.dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
}

ApiError invalidRequest(int status, std::string message, std::string code, std::string param) {
  return ApiError{status, "invalid_request_error", std::move(code), std::move(message),
                  std::move(param)};
}

}  // namespace fwd::dataplane::proxy
