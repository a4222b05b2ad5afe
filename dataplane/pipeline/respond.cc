#include "dataplane/pipeline/respond.h"

#include "dataplane/pipeline/client_conn.h"

namespace fwd::dataplane::pipeline {

bool mayKeepAlive(const RequestContext& ctx) { return ctx.keep_alive && ctx.req.is_done(); }

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
  const std::string body = proxy::errorBody(e);
  complete(ctx, e.status);
  bool written =
      co_await writeJson(ctx.w, ctx.client, answer.status, body, keep, e.retry_after_seconds,
                         answer.status_header ? e.status : 0, ctx.response_fields);
  co_return written&& keep;
}

Task<bool> respondJson(RequestContext& ctx, int status, const std::string& body) {
  ctx.status = status;
  bool keep = mayKeepAlive(ctx);
  complete(ctx, status);
  bool written =
      co_await writeJson(ctx.w, ctx.client, status, body, keep, 0, 0, ctx.response_fields);
  co_return written&& keep;
}

}  // namespace fwd::dataplane::pipeline
