#include "dataplane/pipeline/pipeline.h"

#include <boost/beast/http/verb.hpp>

#include "dataplane/models/models_endpoint.h"
#include "dataplane/pipeline/admit.h"
#include "dataplane/pipeline/attempt.h"
#include "dataplane/pipeline/finish.h"
#include "dataplane/pipeline/inspect.h"
#include "dataplane/pipeline/plan.h"
#include "dataplane/pipeline/respond.h"

namespace fwd::dataplane::pipeline {
namespace {

namespace http = boost::beast::http;

// The phases in order; an error a phase returns is answered here, and the request ends.
Task<bool> runPhases(RequestContext& ctx, boost::beast::flat_buffer& buffer) {
  if (std::optional<ApiError> refused = admit(ctx)) {
    co_return co_await respondError(ctx, *refused);
  }
  // GET /v1/models[/{id}] is answered by fwd from its model catalog (dataplane/models).
  if (auto answer =
          models::answerModelsRequest(ctx.w.models.get(), ctx.req.method() == http::verb::get,
                                      ctx.prefix, ctx.path, *ctx.key)) {
    if (ctx.policies().has(policy::kAwaitRequest)) {
      if (std::optional<ApiError> refused =
              co_await ctx.policies().awaitRequest(ctx, ctx.policySlots())) {
        co_return co_await respondError(ctx, *refused);
      }
    }
    co_return co_await respondJson(ctx, answer->status, answer->body);
  }
  std::optional<ApiError> unread = co_await readBody(ctx, buffer);
  if (ctx.dropped) {
    co_return false;
  }
  if (unread) {
    co_return co_await respondError(ctx, *unread);
  }
  if (std::optional<ApiError> invalid = inspectBody(ctx)) {
    co_return co_await respondError(ctx, *invalid);
  }
  if (std::optional<ApiError> forbidden = authorizeModel(ctx)) {
    co_return co_await respondError(ctx, *forbidden);
  }
  if (ctx.policies().has(policy::kOnRequest)) {
    if (std::optional<ApiError> refused = ctx.policies().onRequest(ctx, ctx.policySlots())) {
      co_return co_await respondError(ctx, *refused);
    }
  }
  if (ctx.policies().has(policy::kAwaitRequest)) {
    if (std::optional<ApiError> refused =
            co_await ctx.policies().awaitRequest(ctx, ctx.policySlots())) {
      co_return co_await respondError(ctx, *refused);
    }
  }
  co_return co_await forward(ctx);
}

}  // namespace

Task<bool> serveRequest(WorkerContext& w, ClientConn& client, boost::beast::flat_buffer& buffer,
                        ClientRequestParser& req) {
  RequestContext ctx(w, client, req, req.keep_alive() && !w.draining);
  // The one exit of every request, also when its coroutine is destroyed mid-way (shutdown).
  struct FinishOnExit {
    RequestContext& ctx;
    ~FinishOnExit() {
      finish(ctx);
      ctx.w.in_flight.add(-1);
    }
  };
  w.in_flight.add(1);
  FinishOnExit finish_on_exit{ctx};
  co_return co_await runPhases(ctx, buffer);
}

}  // namespace fwd::dataplane::pipeline
