// Fuzzes the JSON body inspection (simdjson On-Demand) against nlohmann/json: a body fwd
// accepts must be a JSON object nlohmann parses too, with the same "model" and "stream" —
// fwd forwards it byte for byte and, for a model rewrite, re-serialises it with nlohmann.
#include <simdjson.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "dataplane/proxy/body_inspect.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static simdjson::ondemand::parser parser;
  std::string body(reinterpret_cast<const char*>(data), size);
  fwd::dataplane::proxy::BodyInfo info;
  fwd::dataplane::proxy::BodyError error;
  bool ok = fwd::dataplane::proxy::inspectJsonBody(parser, body, info, error);
  FUZZ_CHECK(body.size() == size);  // padded in capacity only
  if (!ok) {
    FUZZ_CHECK(!error.message.empty());
    return 0;
  }
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!doc.is_discarded());
  FUZZ_CHECK(doc.is_object());
  // nlohmann keeps the last of duplicate keys; fwd reads them in order, so its view is the last
  // one too unless an earlier duplicate had the wrong type (then fwd refused the body).
  if (info.has_model) {
    FUZZ_CHECK(doc.contains("model") && doc["model"].is_string());
    FUZZ_CHECK(doc["model"].get<std::string>() == info.model);
  } else {
    FUZZ_CHECK(!doc.contains("model"));
  }
  return 0;
}
