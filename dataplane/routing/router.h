// Where a request for one model may go: the route that matches its path prefix and model (with
// that route's group, model rewrite and fallbacks), or, without one, every upstream whose own
// model list serves it. The one place routing decisions are made; the balancer orders what it
// returns. Pure functions of the pinned snapshot: any thread.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "dataplane/config/compiled_config.h"

namespace fwd::dataplane::routing {

/// The requested model plus fallbacks: a bound on how far one request can wander.
inline constexpr size_t kMaxModelsPerRequest = 8;

/// Models to try in order: the requested one, then fallbacks as routes name them. Views into the
/// request and the pinned snapshot; inline, so no allocation per request.
using ModelList = absl::InlinedVector<std::string_view, 4>;

struct RouteChoice {
  const config::CompiledRoute* route = nullptr;  // null: no route matched
  config::CandidateList candidates;              // in group (or try) order, before balancing
  std::string_view upstream_model;               // the model name the upstreams get
};

/// Routes `model` under the path `prefix` ("" or e.g. "/localai"). A route's group ignores the
/// upstreams' allow lists (the route chose them) but not their deny lists. Without a matching
/// route, a request without a prefix goes to the upstreams serving the model; one with a prefix
/// goes nowhere. A matched route's fallbacks not yet in `models` are appended to it, so a model
/// is never tried twice and fallbacks that point at each other end instead of looping.
RouteChoice route(const config::CompiledConfig& cfg, std::string_view prefix,
                  std::string_view model, ModelList& models);

}  // namespace fwd::dataplane::routing
