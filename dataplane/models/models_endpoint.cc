#include "dataplane/models/models_endpoint.h"

#include "common/net/hex.h"
#include "dataplane/proxy/errors.h"

namespace fwd::dataplane::models {
namespace {

constexpr std::string_view kModelsPath = "/v1/models";

ModelsResponse notFound(std::string_view id) {
  proxy::ApiError e = proxy::invalidRequest(
      404, "The model `" + std::string(id) + "` does not exist or you do not have access to it.",
      "model_not_found", "model");
  return ModelsResponse{404, proxy::errorBody(e)};
}

}  // namespace

std::optional<std::string> percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    int hi = i + 2 < text.size() ? common::net::hexDigitValue(text[i + 1]) : -1;
    int lo = i + 2 < text.size() ? common::net::hexDigitValue(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::optional<ModelsResponse> answerModelsRequest(const Catalog* catalog, bool is_get,
                                                  std::string_view prefix, std::string_view path,
                                                  const config::KeyEntry& key) {
  if (!is_get || !path.starts_with(kModelsPath)) {
    return std::nullopt;
  }
  std::string_view rest = path.substr(kModelsPath.size());
  if (!rest.empty() && rest.front() != '/') {
    return std::nullopt;  // e.g. /v1/models_extra: not ours
  }
  if (catalog == nullptr) {
    proxy::ApiError e{503, "api_error", "not_ready",
                      "fwd has not built its model list yet. Retry shortly.", ""};
    return ModelsResponse{503, proxy::errorBody(e)};
  }
  if (rest.size() <= 1) {  // "/v1/models" or "/v1/models/"
    return ModelsResponse{200, catalog->listBody(prefix, key.models)};
  }
  std::optional<std::string> id = percentDecode(rest.substr(1));
  if (!id) {
    return notFound(rest.substr(1));
  }
  const Model* m = catalog->find(prefix, *id);
  if (m == nullptr || !config::modelAllowed(key.models, m->id)) {
    return notFound(*id);
  }
  return ModelsResponse{200, m->json};
}

}  // namespace fwd::dataplane::models
