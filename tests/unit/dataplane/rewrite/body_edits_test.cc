#include "dataplane/rewrite/body_edits.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fwd::dataplane::rewrite {
namespace {

using Json = nlohmann::json;

Json edited(const BodyEdits& edits, const std::string& body) {
  std::string b;
  EXPECT_TRUE(applyBodyEdits(edits, body, b)) << body;
  return Json::parse(b);
}

TEST(BodyEditsTest, NothingToEditIsEmpty) {
  // The pipeline skips the parse entirely for empty edits.
  EXPECT_TRUE(BodyEdits{}.empty());
  BodyEdits e;
  e.strip_think = true;
  EXPECT_FALSE(e.empty());
}

TEST(BodyEditsTest, TheTokenCapClampsBothFieldsAndSetsOneWhenAbsent) {
  // Above the cap: clamped; below: kept; neither field: max_tokens set to the cap.
  BodyEdits e;
  e.max_tokens_cap = 1000;
  Json j = edited(e, R"({"model":"m","max_tokens":5000,"max_completion_tokens":200})");
  EXPECT_EQ(j["max_tokens"], 1000);
  EXPECT_EQ(j["max_completion_tokens"], 200);
  EXPECT_EQ(edited(e, R"({"model":"m"})")["max_tokens"], 1000);
  Json only_completion = edited(e, R"({"model":"m","max_completion_tokens":4096})");
  EXPECT_EQ(only_completion["max_completion_tokens"], 1000);
  EXPECT_FALSE(only_completion.contains("max_tokens"));
}

TEST(BodyEditsTest, StopWordsAreAUnionWithoutDuplicates) {
  // A string stop becomes an array; the client's words come first; none twice.
  BodyEdits e;
  e.stop = {"END", "\n\n"};
  EXPECT_EQ(edited(e, R"({"stop":"END"})")["stop"], Json::array({"END", "\n\n"}));
  EXPECT_EQ(edited(e, R"({"stop":["a","\n\n"]})")["stop"], Json::array({"a", "\n\n", "END"}));
  EXPECT_EQ(edited(e, R"({})")["stop"], Json::array({"END", "\n\n"}));
}

TEST(BodyEditsTest, EmptyMessagesGoUnlessTheyCarryAToolCall) {
  // "", null, [] and a missing content are dropped; an assistant tool call with null content
  // stays.
  BodyEdits e;
  e.drop_empty_messages = true;
  Json j = edited(e, R"({"messages":[
      {"role":"system","content":""},
      {"role":"user","content":"hi"},
      {"role":"assistant","content":null},
      {"role":"assistant","content":null,"tool_calls":[{"id":"c1"}]},
      {"role":"user","content":[]},
      {"role":"user"}]})");
  ASSERT_EQ(j["messages"].size(), 2u);
  EXPECT_EQ(j["messages"][0]["content"], "hi");
  EXPECT_TRUE(j["messages"][1].contains("tool_calls"));
}

TEST(BodyEditsTest, ThinkBlocksLeaveAssistantHistoryOnly) {
  // Closed blocks and the whitespace after them go, in strings and text parts of assistant
  // messages; user messages and an unclosed block stay as written.
  BodyEdits e;
  e.strip_think = true;
  Json j = edited(e, R"({"messages":[
      {"role":"user","content":"<think>mine</think>keep"},
      {"role":"assistant","content":"<think>\nplan\n</think>\n\nAnswer <think>x</think>done"},
      {"role":"assistant","content":[{"type":"text","text":"<think>a</think> B"}]}]})");
  EXPECT_EQ(j["messages"][0]["content"], "<think>mine</think>keep");
  EXPECT_EQ(j["messages"][1]["content"], "Answer done");
  EXPECT_EQ(j["messages"][2]["content"][0]["text"], "B");
  EXPECT_EQ(stripThink("a <think>never closed"), "a <think>never closed");
}

TEST(BodyEditsTest, AllEditsInOneGoAndANonObjectIsLeftAlone) {
  // Model, cap and stop together in one serialisation; a JSON array is not edited.
  BodyEdits e;
  e.model = "gpt-4o-mini";
  e.max_tokens_cap = 10;
  e.stop = {"X"};
  Json j = edited(e, R"({"model":"gpt-4o","max_tokens":99,"messages":[]})");
  EXPECT_EQ(j["model"], "gpt-4o-mini");
  EXPECT_EQ(j["max_tokens"], 10);
  EXPECT_EQ(j["stop"], Json::array({"X"}));
  std::string out = "untouched";
  EXPECT_FALSE(applyBodyEdits(e, "[1,2]", out));
  EXPECT_EQ(out, "untouched");
}

}  // namespace
}  // namespace fwd::dataplane::rewrite
