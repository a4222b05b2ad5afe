// Reads what routing needs from a JSON request body — "model" and "stream" — with simdjson
// On-Demand, validating the whole document on the way without building a DOM of the prompt.
// The body itself is forwarded unchanged.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

namespace fwd::dataplane::proxy {

struct BodyInfo {
  bool has_model = false;
  std::string model;
  bool stream = false;
};

struct BodyError {
  std::string message;
  std::string param;  // the offending field, or empty
};

/// `body` is padded in place for simdjson (capacity grows by SIMDJSON_PADDING if needed;
/// size is unchanged). Returns false with `error` set when the body is not a valid JSON object
/// or "model"/"stream" have the wrong type.
bool inspectJsonBody(simdjson::ondemand::parser& parser, std::string& body, BodyInfo& info,
                     BodyError& error);

/// True for the OpenAI endpoints whose JSON body must name a model (`api_path` starts at
/// "/v1/", no query): chat and text completions, embeddings, responses, speech. OpenAI answers
/// a body without one with 400 `param: "model"`, and so does fwd, rather than routing the
/// request by its path.
bool requiresModel(std::string_view api_path);

/// True for application/json (any parameters, any case).
bool isJsonContentType(std::string_view content_type);

}  // namespace fwd::dataplane::proxy
