#include "dataplane/rewrite/body_edits.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fwd::dataplane::rewrite {
namespace body_edits_test {

using Json = nlohmann::json;

simdjson::ondemand::parser parser_;

Json edited(const BodyEdits& edits, const std::string& body) {
  std::string in = body;
  std::string b;
  EXPECT_TRUE(applyBodyEdits(parser_, edits, in, b)) << body;
  EXPECT_EQ(in, body);
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

TEST(BodyEditsTest, IncludeUsageKeepsTheClientsOtherStreamOptions) {
  // Added when absent, merged into the client's object, and replacing a false or a non-object;
  // with other edits the splices stay in order.
  BodyEdits e;
  e.include_usage = true;
  EXPECT_FALSE(e.empty());
  EXPECT_EQ(edited(e, R"({"model":"m","stream":true})")["stream_options"],
            Json::parse(R"({"include_usage":true})"));
  EXPECT_EQ(
      edited(e,
             R"({"stream_options":{"include_obfuscation":false},"stream":true})")["stream_options"],
      Json::parse(R"({"include_obfuscation":false,"include_usage":true})"));
  EXPECT_EQ(edited(e, R"({"stream_options":{"include_usage":false}})")["stream_options"],
            Json::parse(R"({"include_usage":true})"));
  EXPECT_EQ(edited(e, R"({"stream_options":null})")["stream_options"],
            Json::parse(R"({"include_usage":true})"));
  e.drop_empty_messages = true;
  e.max_tokens_cap = 7;
  Json all = edited(e, R"({"messages":[{"role":"user","content":"hi"}],)"
                       R"("stream_options":{"x":1},"stream":true})");
  EXPECT_EQ(all["stream_options"], Json::parse(R"({"include_usage":true,"x":1})"));
  EXPECT_EQ(all["messages"].size(), 1u);
  EXPECT_EQ(all["max_tokens"], 7);
}

TEST(BodyEditsTest, StreamIsSetOrAddedAndNoStreamTakesTheStreamOptionsAway) {
  // Stream conversion: a stream is asked with its usage; none, without stream options (which
  // upstreams refuse without a stream), whatever else asked for the usage.
  BodyEdits e;
  e.stream = true;
  e.include_usage = true;
  EXPECT_FALSE(e.empty());
  Json on = edited(e, R"({"model":"m","messages":[]})");
  EXPECT_EQ(on["stream"], true);
  EXPECT_EQ(on["stream_options"], Json::parse(R"({"include_usage":true})"));
  EXPECT_EQ(edited(e, R"({"model":"m","stream":false})")["stream"], true);
  e = BodyEdits{};
  e.stream = false;
  e.include_usage = true;  // the limits asked for it: no stream wins
  Json off = edited(e, R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})");
  EXPECT_EQ(off["stream"], false);
  EXPECT_TRUE(off["stream_options"].is_null());
  EXPECT_EQ(edited(e, R"({"stream_options":[1],"stream":true})")["stream_options"], nullptr);
  Json added = edited(e, R"({})");
  EXPECT_EQ(added, Json::parse(R"({"stream":false})"));
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
  std::string array = "[1,2]";
  EXPECT_FALSE(applyBodyEdits(parser_, e, array, out));
  EXPECT_EQ(out, "untouched");
}

}  // namespace body_edits_test
}  // namespace fwd::dataplane::rewrite

namespace fwd::dataplane::rewrite {
namespace body_edits_test {

std::string applied(const BodyEdits& edits, std::string body) {
  std::string out;
  EXPECT_TRUE(applyBodyEdits(parser_, edits, body, out)) << body;
  return out;
}

TEST(BodyEditsTest, OnlyTheEditedValuesChangeAndEveryOtherByteStays) {
  // Spacing, key order, number spelling and escapes the client wrote survive; only the values
  // the edits change are written anew, and missing fields go first.
  const std::string body =
      "{ \"model\" : \"a\\u0020b\",\n  \"max_tokens\": 9000 , \"temperature\": 1.50,\n"
      "  \"messages\": [ {\"role\":\"user\", \"content\":\"hi \\\"there\\\"\"} ] }";
  BodyEdits e;
  e.model = "gpt-4o\"x";
  e.max_tokens_cap = 100;
  EXPECT_EQ(applied(e, body),
            "{ \"model\" : \"gpt-4o\\\"x\",\n  \"max_tokens\": 100 , \"temperature\": 1.50,\n"
            "  \"messages\": [ {\"role\":\"user\", \"content\":\"hi \\\"there\\\"\"} ] }");

  BodyEdits s;
  s.stop = {"END"};
  s.max_tokens_cap = 7;
  s.drop_empty_messages = true;
  s.strip_think = true;
  EXPECT_EQ(applied(s, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"),
            "{\"max_tokens\":7,\"stop\":[\"END\"],\"messages\":[{\"role\":\"user\",\"content\":"
            "\"x\"}]}");
  EXPECT_EQ(applied(s, "{}"), "{\"max_tokens\":7,\"stop\":[\"END\"]}");
  // A capped value below the cap, and a null one, are left as written.
  BodyEdits cap;
  cap.max_tokens_cap = 50;
  EXPECT_EQ(applied(cap, "{\"max_tokens\":10}"), "{\"max_tokens\":10}");
  EXPECT_EQ(applied(cap, "{\"max_tokens\":null}"), "{\"max_tokens\":50}");
}

}  // namespace body_edits_test
}  // namespace fwd::dataplane::rewrite
