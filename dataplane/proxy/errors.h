// OpenAI-shaped error bodies: {"error":{"message","type","param","code"}}, the shape every
// OpenAI SDK turns into its typed exceptions.
#pragma once

#include <string>
#include <string_view>

namespace fwd::dataplane::proxy {

struct ApiError {
  int status = 500;
  std::string type;  // invalid_request_error, authentication_error, ...
  std::string code;  // empty -> null
  std::string message;
  std::string param;            // empty -> null
  int retry_after_seconds = 0;  // > 0: sent as a Retry-After header
};

std::string errorBody(const ApiError& e);

ApiError invalidRequest(int status, std::string message, std::string code = "",
                        std::string param = "");

}  // namespace fwd::dataplane::proxy
