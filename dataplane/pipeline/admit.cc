#include "dataplane/pipeline/admit.h"

#include <boost/beast/core/string.hpp>

#include "dataplane/pipeline/client_conn.h"
#include "dataplane/proxy/request_rules.h"

namespace fwd::dataplane::pipeline {
namespace {

namespace http = boost::beast::http;

// The secret of `Authorization: Bearer ...`, else of `api-key` (Azure's header); empty when
// neither carries one.
std::string_view presentedSecret(const ClientRequestParser& req) {
  std::string_view auth = req.field(http::field::authorization);
  if (auth.empty()) {
    return req.field("api-key");
  }
  if (auth.size() <= 7 || !boost::beast::iequals(auth.substr(0, 7), "bearer ")) {
    return {};
  }
  auth.remove_prefix(7);
  while (!auth.empty() && auth.front() == ' ') {
    auth.remove_prefix(1);
  }
  return auth;
}

}  // namespace

std::optional<ApiError> admit(RequestContext& ctx) {
  ctx.pinned = ctx.w.snapshot;
  if (!ctx.pinned) {
    return ApiError{503, "api_error", "not_ready",
                    "fwd has no configuration yet: the data plane has not reached its control "
                    "plane. Retry shortly.",
                    ""};
  }
  ctx.cfg = ctx.pinned->config.get();
  const ClientRequestParser& req = ctx.req;
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  // The API path starts at "/v1/"; whatever precedes it must be the prefix of a route
  // ("/localai/v1/chat/completions" -> prefix "/localai").
  size_t v1 = path.find("/v1/");
  std::string_view prefix = v1 == std::string_view::npos ? path : path.substr(0, v1);
  if (v1 == std::string_view::npos || (!prefix.empty() && !ctx.cfg->hasPrefix(prefix))) {
    return proxy::invalidRequest(404, "Invalid URL (" + std::string(req.methodString()) + " " +
                                          std::string(path) +
                                          "): fwd serves the OpenAI API under /v1/.");
  }
  if (!proxy::isSafePath(path)) {
    return proxy::invalidRequest(400, "Invalid URL: path segments '.' and '..' are not allowed.");
  }
  ctx.prefix = prefix;
  ctx.path = path.substr(v1);
  ctx.target_rest = target.substr(v1 + 3);
  const policy::Chain& policies = ctx.policies();
  if (policies.has(policy::kOnClient)) {
    if (auto refused = policies.onClient(ctx, ctx.policySlots())) {
      return refused;
    }
  }

  std::string_view secret = presentedSecret(req);
  if (secret.empty()) {
    return ApiError{401, "invalid_request_error", "missing_api_key",
                    "You didn't provide an API key. Send it in an Authorization header using "
                    "Bearer auth (Authorization: Bearer YOUR_KEY) or in an api-key header.",
                    ""};
  }
  ctx.key = ctx.client.key.find(ctx.pinned->config, secret);
  if (ctx.key == nullptr) {
    // Never echo the presented secret, not even in part.
    return ApiError{401, "invalid_request_error", "invalid_api_key",
                    "Incorrect API key provided. Check the key, or ask your fwd operator for one "
                    "(fwdctl key create).",
                    ""};
  }
  if (policies.has(policy::kOnKey)) {
    return policies.onKey(ctx, ctx.policySlots());
  }
  return std::nullopt;
}

}  // namespace fwd::dataplane::pipeline
