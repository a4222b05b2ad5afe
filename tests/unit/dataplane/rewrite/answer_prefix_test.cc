#include "dataplane/rewrite/answer_prefix.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fwd::dataplane::rewrite {
namespace {

using Json = nlohmann::json;

simdjson::ondemand::parser parser_;

TEST(AnswerPrefixTest, AJsonAnswerGetsThePrefixOnChoiceZeroOnly) {
  std::string body =
      R"({"id":"x","object":"chat.completion","choices":[)"
      R"({"index":1,"message":{"role":"assistant","content":"one"}},)"
      R"({"index":0,"message":{"role":"assistant","content":"zero \"q\" é"}}],"usage":{}})";
  ASSERT_TRUE(prefixAnswer(parser_, body, "P: "));
  Json j = Json::parse(body);
  EXPECT_EQ(j["choices"][1]["message"]["content"], "P: zero \"q\" é");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "one");
  // Only the prefix goes in: the rest is as the upstream wrote it.
  std::string expected =
      R"({"id":"x","object":"chat.completion","choices":[)"
      R"({"index":1,"message":{"role":"assistant","content":"one"}},)"
      R"({"index":0,"message":{"role":"assistant","content":"P: zero \"q\" é"}}],)"
      R"("usage":{}})";
  EXPECT_EQ(body, expected);

  std::string text = R"({"object":"text_completion","choices":[{"text":"t","index":0}]})";
  ASSERT_TRUE(prefixAnswer(parser_, text, ">"));
  EXPECT_EQ(Json::parse(text)["choices"][0]["text"], ">t");
}

TEST(AnswerPrefixTest, AnswersWithoutContentAreLeftAlone) {
  for (std::string body :
       {std::string(R"({"choices":[{"index":0,"message":{"role":"assistant","content":null,)"
                    R"("tool_calls":[]}}]})"),
        std::string(R"({"choices":[]})"), std::string(R"({"data":[]})"), std::string("[1]"),
        std::string("not json"), std::string(R"({"choices":[{"index":2,"text":"x"}]})")}) {
    std::string before = body;
    EXPECT_FALSE(prefixAnswer(parser_, body, "P")) << before;
    EXPECT_EQ(body, before);
  }
}

TEST(AnswerPrefixTest, AStreamEventTakesThePrefixOnlyWhenItCarriesContent) {
  std::string role = R"({"choices":[{"index":0,"delta":{"role":"assistant"}}]})";
  EXPECT_FALSE(prefixStreamEvent(parser_, role, "P"));
  std::string usage = R"({"choices":[],"usage":{"total_tokens":3}})";
  EXPECT_FALSE(prefixStreamEvent(parser_, usage, "P"));
  std::string other = R"({"choices":[{"index":1,"delta":{"content":"b"}}]})";
  EXPECT_FALSE(prefixStreamEvent(parser_, other, "P"));
  std::string empty = R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})";
  ASSERT_TRUE(prefixStreamEvent(parser_, empty, "P"));
  EXPECT_EQ(Json::parse(empty)["choices"][0]["delta"]["content"], "P");
  std::string text = R"({"object":"text_completion","choices":[{"index":0,"text":"a"}]})";
  ASSERT_TRUE(prefixStreamEvent(parser_, text, "P"));
  EXPECT_EQ(Json::parse(text)["choices"][0]["text"], "Pa");
}

}  // namespace
}  // namespace fwd::dataplane::rewrite

namespace fwd::dataplane::rewrite {
namespace {

TEST(AnswerPrefixTest, ThePrefixIsEscapedOnceForJson) {
  EXPECT_EQ(escapeForJson("a\"b\\c\nd\te\x01 é"), "a\\\"b\\\\c\\nd\\te\\u0001 é");
  std::string body = R"({"choices":[{"message":{"content":"x"}}]})";
  ASSERT_TRUE(prefixAnswer(parser_, body, escapeForJson("\"q\"\n")));
  EXPECT_EQ(nlohmann::json::parse(body)["choices"][0]["message"]["content"], "\"q\"\nx");
}

}  // namespace
}  // namespace fwd::dataplane::rewrite
