// Fuzzes the JSON edits fwd splices into bodies it did not write: the request edits
// (body_edits.h: model, max_tokens cap, stop words, empty messages, <think> blocks) on a client's
// body, and the answer prefix (answer_prefix.h) on an upstream's answer and stream event. Whatever
// the input, an edit of a JSON object must leave a JSON object (nlohmann parses it) with the
// edited values in place, and a prefix must land inside a string, leaving valid JSON.
#include <simdjson.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "dataplane/rewrite/answer_prefix.h"
#include "dataplane/rewrite/body_edits.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using Json = nlohmann::json;
using fwd::dataplane::rewrite::BodyEdits;

void checkBodyEdits(simdjson::ondemand::parser& parser, const std::string& input) {
  Json before = Json::parse(input, nullptr, /*allow_exceptions=*/false);
  BodyEdits edits;
  edits.model = "m\"odel";
  edits.max_tokens_cap = 64;
  edits.stop = {"END", "\n\n"};
  edits.drop_empty_messages = true;
  edits.strip_think = true;
  std::string body = input;
  std::string out;
  bool ok = fwd::dataplane::rewrite::applyBodyEdits(parser, edits, body, out);
  FUZZ_CHECK(body == input);  // the client's body stays as it came
  if (!ok || before.is_discarded() || !before.is_object()) {
    return;
  }
  Json after = Json::parse(out, nullptr, false);
  FUZZ_CHECK(!after.is_discarded());
  FUZZ_CHECK(after.is_object());
  if (before.contains("model")) {
    FUZZ_CHECK(after["model"] == "m\"odel");
  }
  if (after["max_tokens"].is_number()) {
    FUZZ_CHECK(after["max_tokens"].get<double>() <= 64);
  }
  if (!before.contains("max_tokens") && !before.contains("max_completion_tokens")) {
    FUZZ_CHECK(after["max_tokens"] == 64);
  }
  if (after["stop"].is_array()) {
    int found = 0;
    for (const Json& w : after["stop"]) {
      found += w == "END" || w == "\n\n" ? 1 : 0;
    }
    FUZZ_CHECK(found == 2);
  }
}

void checkPrefix(simdjson::ondemand::parser& parser, const std::string& input, bool stream) {
  Json before = Json::parse(input, nullptr, false);
  std::string text = input;
  const std::string prefix = fwd::dataplane::rewrite::escapeForJson("P\"\\\n");
  bool ok = stream ? fwd::dataplane::rewrite::prefixStreamEvent(parser, text, prefix)
                   : fwd::dataplane::rewrite::prefixAnswer(parser, text, prefix);
  if (!ok) {
    FUZZ_CHECK(text == input);
    return;
  }
  FUZZ_CHECK(text.size() == input.size() + prefix.size());
  if (!before.is_discarded()) {
    Json after = Json::parse(text, nullptr, false);
    FUZZ_CHECK(!after.is_discarded());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static simdjson::ondemand::parser parser;
  std::string input(reinterpret_cast<const char*>(data), size);
  checkBodyEdits(parser, input);
  checkPrefix(parser, input, false);
  checkPrefix(parser, input, true);
  return 0;
}
