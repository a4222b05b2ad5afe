#include "dataplane/pipeline/answer_editor.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/dataplane/test_request.h"

namespace fwd::dataplane::pipeline {
namespace {

using Json = nlohmann::json;

// A request for /v1/chat/completions served by an upstream whose answers get a prefix.
class AnswerEditorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fwd::v1::Snapshot s;
    auto* u = s.add_upstreams();
    u->set_name("local");
    u->set_base_url("http://127.0.0.1:1/v1");
    u->add_models("*");
    u->mutable_edits()->set_answer_prefix("P:");
    auto compiled = config::CompiledConfig::compile(
        s, [](const std::string&) { return std::optional<std::string>(); });
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    auto pinned = std::make_shared<proxy::WorkerSnapshot>();
    pinned->config = *compiled;
    pinned->policy_slots = (*compiled)->policies().makeWorkerSlots();
    ctx_.pinned = pinned;
    ctx_.cfg = pinned->config.get();
    ctx_.upstream = &pinned->config->upstreams()[0];
    ctx_.path = "/v1/chat/completions";
    readers_ = ctx_.policies().wantsAnswer(ctx_, ctx_.policySlots());
    ASSERT_NE(readers_, 0u);
  }

  // The editor's whole output for `input` fed in pieces of `piece` bytes.
  std::string edit(std::string_view input, size_t piece, bool stream) {
    AnswerEditor editor(ctx_, readers_, stream);
    std::string out;
    for (size_t at = 0; at < input.size(); at += piece) {
      editor.feed(input.substr(at, piece));
      out += editor.out();
      editor.out().clear();
    }
    editor.finish();
    return out + editor.out();
  }

  testing::TestRequest request_;
  RequestContext& ctx_ = request_.ctx();
  policy::Chain::Readers readers_ = 0;
};

std::string event(const std::string& content, bool role = false) {
  Json delta = {{"content", content}};
  if (role) {
    delta = {{"role", "assistant"}};
  }
  return "data: " + Json{{"choices", {{{"index", 0}, {"delta", delta}}}}}.dump() + "\n\n";
}

TEST_F(AnswerEditorTest, TheFirstContentDeltaGetsThePrefixWhereverTheStreamIsCut) {
  const std::string stream =
      ": keep-alive\n\n" + event("", true) + event("Hel") + event("lo") + "data: [DONE]\n\n";
  std::string expected = stream;
  std::string first = event("Hel");
  expected.replace(expected.find(first), first.size(), event("P:Hel"));
  for (size_t piece = 1; piece <= stream.size(); ++piece) {
    EXPECT_EQ(edit(stream, piece, true), expected) << "pieces of " << piece;
  }
}

TEST_F(AnswerEditorTest, CrLfEventsAndSeveralDataLinesAreUnderstood) {
  std::string crlf =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\r\n\r\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\r\n\r\n";
  std::string out = edit(crlf, 7, true);
  EXPECT_EQ(out.substr(0, out.find("\r\n\r\n")),
            R"(data: {"choices":[{"index":0,"delta":{"content":"P:a"}}]})");
  EXPECT_NE(out.find(R"({"content":"b"})"), std::string::npos);

  std::string split =
      "id: 7\ndata: {\"choices\":[{\"index\":0,\n"
      "data: \"delta\":{\"content\":\"x\"}}]}\n\n";
  out = edit(split, 5, true);
  EXPECT_EQ(
      out,
      "id: 7\ndata: {\"choices\":[{\"index\":0,\ndata: \"delta\":{\"content\":\"P:x\"}}]}\n\n");
}

TEST_F(AnswerEditorTest, AJsonAnswerIsHeldWholeAndEditedOnce) {
  std::string answer = R"({"choices":[{"index":0,"message":{"role":"assistant","content":"c"}}]})";
  EXPECT_EQ(edit(answer, 3, false),
            R"({"choices":[{"index":0,"message":{"role":"assistant","content":"P:c"}}]})");
}

TEST_F(AnswerEditorTest, AnEventOverTheLimitEndsEditingAndPassesEverythingThrough) {
  std::string huge = "data: " + std::string(kMaxHeldEvent + 100 * 1024, 'x');
  std::string rest = "\n\n" + event("late");
  EXPECT_EQ(edit(huge + rest, 64 * 1024, true), huge + rest);
}

TEST_F(AnswerEditorTest, AStreamThatEndsMidEventReleasesItAsItCame) {
  std::string cut = event("", true) + "data: {\"choi";
  EXPECT_EQ(edit(cut, 4, true), cut);
}

}  // namespace
}  // namespace fwd::dataplane::pipeline
