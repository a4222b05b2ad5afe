#include "dataplane/routing/router.h"

#include <algorithm>

namespace fwd::dataplane::routing {

RouteChoice route(const config::CompiledConfig& cfg, std::string_view prefix,
                  std::string_view model, ModelList& models) {
  RouteChoice out;
  out.upstream_model = model;
  const config::CompiledRoute* matched = cfg.matchRoute(prefix, model);
  if (matched == nullptr) {
    if (prefix.empty()) {
      cfg.candidates(model, out.candidates);
    }
    return out;
  }
  out.route = matched;
  for (const config::UpstreamTarget* t : matched->upstreams) {
    if (!config::deniesModel(*t, model)) {
      out.candidates.push_back(t);
    }
  }
  if (!matched->rewrite_model.empty()) {
    out.upstream_model = matched->rewrite_model;
  }
  for (const auto& fallback : matched->fallback_models) {
    if (std::find(models.begin(), models.end(), fallback) == models.end()) {
      models.push_back(fallback);
    }
  }
  return out;
}

}  // namespace fwd::dataplane::routing
