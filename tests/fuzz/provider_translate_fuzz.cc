// Fuzzes provider translation (dataplane/provider/) with what clients and upstreams send:
// whatever the bytes, DashScope's and Replicate's translations of a request are a JSON object or a
// 4xx naming why; an answer translated whole or fed in pieces (sizes from the first byte) gives
// the same bytes, a JSON one is a JSON object or an error, a stream's every event is JSON or
// [DONE]; what fwd does after a Replicate prediction is an answer, a URL to follow or an error;
// and an error body, Azure's, DashScope's or Replicate's, becomes an OpenAI error of a 4xx status
// with a message.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/config/provider.h"
#include "dataplane/provider/provider.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using fwd::dataplane::provider::AnswerTranslator;
using Json = nlohmann::json;

struct Result {
  bool error = false;
  std::string out;
};

// `out` with each "created":<seconds> (and Replicate's stream ids, "chatcmpl-<seconds>") as 0:
// two translators made a second apart stamp their answers differently.
std::string withoutTime(std::string out) {
  for (std::string_view prefix : {"\"created\":", "\"id\":\"chatcmpl-"}) {
    for (size_t at = out.find(prefix); at != std::string::npos; at = out.find(prefix, at + 1)) {
      size_t digits = at + prefix.size();
      size_t end = digits;
      while (end < out.size() && out[end] >= '0' && out[end] <= '9') {
        ++end;
      }
      if (end > digits) {
        out.replace(digits, end - digits, "0");
      }
    }
  }
  return out;
}

using ProviderPtr = std::shared_ptr<const fwd::dataplane::provider::Provider>;

Result translate(const ProviderPtr& provider, bool sse, std::string_view in, size_t step,
                 bool include_usage) {
  auto t = provider->answerTranslator(sse, "qwen-plus", include_usage, sse);
  Result r;
  for (size_t at = 0; at < in.size(); at += step) {
    t->feed(in.substr(at, step));
    r.out += t->out();
    t->out().clear();
  }
  if (auto e = t->finish()) {
    FUZZ_CHECK(e->status >= 400 && e->status <= 599);
    FUZZ_CHECK(!e->message.empty());
    r.error = true;
  }
  r.out = withoutTime(r.out + t->out());
  return r;
}

void checkEvents(std::string_view stream) {
  size_t at = 0;
  while ((at = stream.find("data: ", at)) != std::string_view::npos) {
    size_t end = stream.find("\n\n", at);
    FUZZ_CHECK(end != std::string_view::npos);
    std::string_view data = stream.substr(at + 6, end - at - 6);
    if (data != "[DONE]") {
      Json event = Json::parse(data, nullptr, false);
      FUZZ_CHECK(!event.is_discarded() && event.is_object());
    }
    at = end;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const size_t step = 1 + data[0] % 64;
  const bool include_usage = data[0] & 0x40;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto dashscope = fwd::dataplane::provider::dashscope();
  fwd::dataplane::provider::ReplicateOptions options;
  options.prompt_templates = {
      {"*", std::string(fwd::common::config::kPromptTemplates[data[0] % 5])}};
  auto replicate = fwd::dataplane::provider::replicate(options);

  std::string request;
  fwd::dataplane::provider::Translation t =
      dashscope->translateRequest("/v1/chat/completions", in, request);
  if (t.error) {
    FUZZ_CHECK(t.error->status == 400);
  } else {
    Json body = Json::parse(request, nullptr, false);
    FUZZ_CHECK(body.is_object() && body["parameters"]["result_format"] == "message");
  }
  request.clear();
  t = replicate->translateRequest("/v1/chat/completions", in, request);
  if (t.error) {
    FUZZ_CHECK(t.error->status == 400 || t.error->status == 404);
    FUZZ_CHECK(!t.error->message.empty());
  } else {
    Json body = Json::parse(request, nullptr, false);
    FUZZ_CHECK(body.is_object() && body["input"]["prompt"].is_string());
  }
  fwd::dataplane::provider::NextStep next = replicate->nextStep(in, t);
  if (next.kind == fwd::dataplane::provider::NextStep::Kind::kFetch) {
    FUZZ_CHECK(!next.url.empty());
  } else if (next.kind == fwd::dataplane::provider::NextStep::Kind::kFail) {
    FUZZ_CHECK(next.error.status >= 400 && !next.error.message.empty());
  }

  for (const ProviderPtr& provider : {dashscope, replicate}) {
    for (bool sse : {false, true}) {
      Result whole = translate(provider, sse, in, in.size() + 1, include_usage);
      Result pieces = translate(provider, sse, in, step, include_usage);
      FUZZ_CHECK(whole.error == pieces.error);
      if (sse) {
        FUZZ_CHECK(!whole.error);
        // Events go out as they arrive, so the pieces may differ only in when: the bytes agree.
        FUZZ_CHECK(whole.out == pieces.out);
        checkEvents(whole.out);
      } else if (!whole.error) {
        FUZZ_CHECK(whole.out == pieces.out);
        Json answer = Json::parse(whole.out, nullptr, false);
        FUZZ_CHECK(!answer.is_discarded() && answer.is_object());
      }
    }
  }

  for (const auto& provider : {dashscope, fwd::dataplane::provider::azure({}, ""), replicate}) {
    fwd::dataplane::proxy::ApiError e = provider->errorAnswer(400 + data[0] % 100, in);
    FUZZ_CHECK(e.status >= 400 && e.status <= 499);
    FUZZ_CHECK(!e.message.empty() && !e.type.empty());
  }
  return 0;
}
