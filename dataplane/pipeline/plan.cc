#include "dataplane/pipeline/plan.h"

#include "dataplane/balancer/balancer.h"
#include "dataplane/rewrite/body_edits.h"

namespace fwd::dataplane::pipeline {

std::optional<ApiError> authorizeModel(const RequestContext& ctx) {
  if (config::modelAllowed(ctx.key->models, ctx.model)) {
    return std::nullopt;
  }
  return ApiError{403, "invalid_request_error", "model_not_allowed",
                  "This API key is not allowed to use model `" + ctx.model + "`.", "model"};
}

Plan planModel(RequestContext& ctx, std::string_view model, routing::ModelList& models) {
  WorkerContext& w = ctx.w;
  routing::RouteChoice choice = routing::route(*ctx.cfg, ctx.prefix, model, models);
  Plan plan;
  plan.route = choice.route;
  plan.upstream_model = choice.upstream_model;
  plan.candidates = std::move(choice.candidates);
  ctx.route = plan.route;
  if (plan.route != nullptr) {
    ctx.route_name = plan.route->name;
    // What least-busy and latency weigh: attempts in flight on this worker.
    auto& handles = ctx.pinned->metrics;
    w.balancer.pickFirst(*plan.route, plan.candidates, [&handles](const config::UpstreamTarget& t) {
      return handles.upstreamInFlight(t.index, t.name).value();
    });
  }
  plan.routed = !plan.candidates.empty();
  auto now = Clock::now();
  balancer::skipUnavailable(plan.candidates, now);
  plan.cooling = balancer::dropCooling(plan.candidates, now);
  return plan;
}

void prepareBody(RequestContext& ctx, std::string_view upstream_model,
                 const config::UpstreamTarget& upstream) {
  rewrite::BodyEdits edits;
  if (ctx.body.has_model && upstream_model != ctx.body.model) {
    edits.model = std::string(upstream_model);
  }
  if (ctx.policies().has(policy::kOnAttempt)) {
    ctx.policies().onAttempt(ctx, upstream, edits, ctx.policySlots());
  }
  if (edits == ctx.body_edits) {
    return;  // the body is as these edits make it already (or untouched, as none do)
  }
  std::string& body = ctx.req.body();
  if (!ctx.original_body) {
    ctx.original_body = std::move(body);
  }
  ctx.served_model = ctx.body.model;
  if (edits.empty() || !rewrite::applyBodyEdits(ctx.w.json, edits, *ctx.original_body, body)) {
    body = *ctx.original_body;
  } else if (edits.model) {
    ctx.served_model = *edits.model;
  }
  ctx.body_edits = std::move(edits);
}

}  // namespace fwd::dataplane::pipeline
