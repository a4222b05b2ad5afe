#include "dataplane/pipeline/respond.h"

#include "dataplane/pipeline/client_conn.h"
#include "dataplane/proxy/upstream_head.h"

namespace fwd::dataplane::pipeline {

bool mayKeepAlive(const RequestContext& ctx) { return ctx.keep_alive && ctx.req.is_done(); }

namespace {

// fwd's own answers carry the request's id, as an upstream's do.
void addRequestId(RequestContext& ctx) {
  if (!ctx.request_id.empty()) {
    proxy::appendField(ctx.response_fields, "x-request-id", ctx.request_id);
  }
}

}  // namespace

void complete(RequestContext& ctx, int status) {
  if (ctx.cfg != nullptr && ctx.policies().has(policy::kOnComplete)) {
    ctx.policies().onComplete(ctx, status, ctx.policySlots());
  }
}

Task<bool> respondError(RequestContext& ctx, const ApiError& e) {
  ctx.status = e.status;  // the real status, also when a policy answers with another
  ctx.error_code = e.code;
  policy::ErrorAnswer answer{e.status, &e, false};
  if (ctx.cfg != nullptr && ctx.policies().has(policy::kOnError)) {
    ctx.policies().onError(ctx, answer, ctx.policySlots());
  }
  bool keep = mayKeepAlive(ctx);
  addRequestId(ctx);
  const std::string body = proxy::errorBody(e);
  ctx.bytes_out = body.size();
  if (ctx.bodies) {
    ctx.bodies->ownAnswer(body);
  }
  complete(ctx, e.status);
  bool written =
      co_await writeJson(ctx.w, ctx.client, answer.status, body, keep, e.retry_after_seconds,
                         answer.status_header ? e.status : 0, ctx.response_fields);
  co_return written&& keep;
}

Task<bool> respondJson(RequestContext& ctx, int status, const std::string& body) {
  ctx.status = status;
  ctx.bytes_out = body.size();
  if (ctx.bodies) {
    ctx.bodies->ownAnswer(body);
  }
  bool keep = mayKeepAlive(ctx);
  addRequestId(ctx);
  complete(ctx, status);
  bool written =
      co_await writeJson(ctx.w, ctx.client, status, body, keep, 0, 0, ctx.response_fields);
  co_return written&& keep;
}

}  // namespace fwd::dataplane::pipeline
