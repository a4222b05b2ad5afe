// fwd's own answer to GET /v1/models and GET /v1/models/{id} (also under a route prefix): the
// models of the catalog that the calling key may use. No IO here: the proxy writes the answer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dataplane/config/compiled_config.h"
#include "dataplane/models/catalog.h"

namespace fwd::dataplane::models {

struct ModelsResponse {
  int status = 200;
  std::string body;  // JSON
};

/// The response to a request for `path` (the API path after the route prefix, query removed,
/// e.g. "/v1/models/gpt-4o") under `prefix`, authenticated as `key`; nullopt when it is not a
/// GET of the models endpoint (then it is forwarded like any other request).
/// - /v1/models: the catalog's models under `prefix` that the key may use
///   (config::modelAllowed), in OpenAI's list shape;
/// - /v1/models/{id} (id percent-decoded, '/' allowed): that model object, or a 404
///   model_not_found — also for a model the key may not use, so nothing leaks.
/// Worker thread; reads only the immutable catalog. A null catalog (none built yet) is a 503.
std::optional<ModelsResponse> answerModelsRequest(const Catalog* catalog, bool is_get,
                                                  std::string_view prefix, std::string_view path,
                                                  const config::KeyEntry& key);

/// Decodes %XX escapes; nullopt when an escape is malformed.
std::optional<std::string> percentDecode(std::string_view text);

}  // namespace fwd::dataplane::models
