// The plan phase: may this key use the model, which route serves it, and which of that route's
// upstreams to try in which order now (router, then balancer, then availability: ejected,
// unhealthy and cooling upstreams set aside).
#pragma once

#include <optional>
#include <string_view>

#include "dataplane/pipeline/request_context.h"
#include "dataplane/routing/router.h"

namespace fwd::dataplane::pipeline {

/// 403 model_not_allowed when the key may not use ctx.model; checked before anything reveals
/// which models exist.
std::optional<ApiError> authorizeModel(const RequestContext& ctx);

struct Plan {
  const config::CompiledRoute* route = nullptr;  // null: no route matched
  config::CandidateList candidates;              // to try, in order
  std::string_view upstream_model;               // the model name the upstreams get
  bool routed = false;  // some upstream serves the model (candidates may still be empty: cooling)
  std::optional<Clock::duration> cooling;  // how soon the first upstream set aside comes back
};

/// Plans the attempts for `model` (ctx.model or one of its fallbacks); fallbacks of the matched
/// route are appended to `models`. Sets ctx.route and ctx.route_name when a route matched.
Plan planModel(RequestContext& ctx, std::string_view model, routing::ModelList& models);

/// Makes the body what the attempt at `upstream` sends: the client's, or the client's with the
/// edits of this attempt (the model `upstream_model` when it names another one: a route's model
/// rewrite or a fallback; the kOnAttempt policies' edits) applied in one parse. An attempt with
/// the same edits as the one before keeps its body; a body nothing edits goes as it came.
void prepareBody(RequestContext& ctx, std::string_view upstream_model,
                 const config::UpstreamTarget& upstream);

}  // namespace fwd::dataplane::pipeline
