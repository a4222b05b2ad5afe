#include "dataplane/pipeline/inspect.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>

#include "dataplane/pipeline/client_conn.h"
#include "dataplane/proxy/body_inspect.h"

namespace fwd::dataplane::pipeline {

namespace http = boost::beast::http;

Task<std::optional<ApiError>> readBody(RequestContext& ctx, boost::beast::flat_buffer& buffer) {
  ClientRequestParser& req = ctx.req;
  ClientConn& client = ctx.client;
  const proxy::ProxyOptions& options = ctx.w.options;
  if (req.is_done()) {
    co_return std::nullopt;
  }
  if (boost::beast::iequals(req.field(http::field::expect), "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, 11};
    client.deadline.after(options.client_write_timeout);
    auto [cec, cn] = co_await writeMessage(client, cont);
    if (cec) {
      ctx.drop(499);
      co_return std::nullopt;
    }
  }
  client.deadline.after(options.body_timeout);
  auto [bec, bn] = co_await readRequestBody(client, buffer, req);
  if (bec == http::error::body_limit) {
    co_return proxy::invalidRequest(413,
                                    "Request body too large: the limit is " +
                                        std::to_string(options.max_body_bytes) + " bytes.",
                                    "request_too_large");
  }
  if (timedOut(bec, client.deadline)) {
    co_return proxy::invalidRequest(408, "Timed out reading the request body.", "request_timeout");
  }
  if (bec) {
    ctx.drop(400);
  }
  co_return std::nullopt;
}

std::optional<ApiError> inspectBody(RequestContext& ctx) {
  ClientRequestParser& req = ctx.req;
  std::string_view ct = req.field(http::field::content_type);
  bool looks_json = proxy::isJsonContentType(ct) ||
                    (ct.empty() && !req.body().empty() && req.body().front() == '{');
  if (looks_json && !req.body().empty()) {
    proxy::BodyError error;
    if (!proxy::inspectJsonBody(ctx.w.json, req.body(), ctx.body, error)) {
      return proxy::invalidRequest(400, error.message, "invalid_json", error.param);
    }
  }
  if (!ctx.body.has_model && req.method() == http::verb::post && proxy::requiresModel(ctx.path)) {
    return proxy::invalidRequest(400, "Missing required parameter: 'model'.",
                                 "missing_required_parameter", "model");
  }
  ctx.model = ctx.body.has_model ? ctx.body.model : std::string(ctx.path);
  ctx.served_model = ctx.body.model;
  return std::nullopt;
}

}  // namespace fwd::dataplane::pipeline
