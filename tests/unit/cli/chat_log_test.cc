// `fwdctl logs convert` and records with bodies: the assistant's turn is read from a JSON answer
// and from a stream put back together (tool calls from their deltas), a record becomes the
// chat-log element of openai-forward or is left out, and `logs --bodies` / `logs export
// --bodies` ask for bodies and show them (never in CSV).
#include "cli/commands/chat_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "cli/commands/records.h"
#include "cli/commands/run.h"
#include "tests/unit/cli/cli_test_util.h"
#include "tests/unit/cli/mock_admin_api.h"

namespace fwd::cli::commands {
namespace chat_log_test {

using ::testing::_;
using testing::MockAdminApi;
using ::testing::StrictMock;

constexpr char kStream[] =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\\n\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other choice\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
    "\"usage\":null}\n\n"
    "data: [DONE]\n\n";

constexpr char kToolStream[] =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{"
    "\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"arguments\":\"\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
    "\"arguments\":\"{\\\"city\\\":\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\","
    "\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
    "\"arguments\":\"\\\"Paris\\\"}\"}}]}}]}\n\n"
    "data: [DONE]\n\n";

fwd::v1::Record chatRecord(const std::string& request_body, const std::string& response_body) {
  fwd::v1::Record r;
  r.set_id("r1");
  r.mutable_time()->set_seconds(1796551200);  // 2026-12-06T10:00:00Z
  r.set_client_ip("10.0.0.9");
  r.set_path("/v1/chat/completions");
  r.set_model("gpt-4o");
  r.set_request_body(request_body);
  r.set_response_body(response_body);
  return r;
}

TEST(ChatLogTest, TheAssistantTurnOfAJsonAnswerAndOfAStream) {
  AssistantTurn json = assistantTurn(
      R"({"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",)"
      R"("content":"Hi there"},"finish_reason":"stop"}]})");
  EXPECT_EQ(json.content, "Hi there");
  EXPECT_TRUE(json.tool_calls.empty());

  AssistantTurn streamed = assistantTurn(kStream);
  EXPECT_EQ(streamed.content, "Hello\n");  // choice 1 is not the first choice
  EXPECT_TRUE(streamed.tool_calls.empty());

  AssistantTurn tools = assistantTurn(kToolStream);
  ASSERT_EQ(tools.tool_calls.size(), 2u) << tools.tool_calls.dump();
  EXPECT_EQ(tools.tool_calls[0]["id"], "call_1");
  EXPECT_EQ(tools.tool_calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(tools.tool_calls[0]["function"]["arguments"], "{\"city\":\"Paris\"}");
  EXPECT_EQ(tools.tool_calls[1]["function"]["name"], "get_time");

  // A stream cut mid-event keeps what came whole; garbage gives nothing.
  std::string cut = std::string(kStream).substr(0, std::string(kStream).find("lo\\n") + 2);
  EXPECT_EQ(assistantTurn(cut).content, "Hel");
  EXPECT_EQ(assistantTurn("not json at all").content, "");
  EXPECT_EQ(assistantTurn("{\"choices\": 3}").content, "");
}

TEST(ChatLogTest, ARecordBecomesAChatLogElementOrIsLeftOut) {
  auto entry = chatLogEntry(
      chatRecord(R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true})",
                 kToolStream));
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->dump(),
            R"({"datetime":"2026-12-06 10:00:00","ip":"10.0.0.9","model":"gpt-4o",)"
            R"("messages":[{"role":"user","content":"hi"}],"assistant":[{"id":"call_1",)"
            R"("type":"function","function":{"name":"get_weather","arguments":)"
            R"("{\"city\":\"Paris\"}"}},{"id":"call_2","type":"function","function":)"
            R"({"name":"get_time","arguments":"{}"}}],"is_tool_calls":true})");
  auto plain = chatLogEntry(chatRecord(R"({"messages":[]})", kStream));
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ((*plain)["assistant"], "Hello\n");
  EXPECT_EQ((*plain)["is_tool_calls"], false);

  EXPECT_FALSE(chatLogEntry(chatRecord("", "")).has_value());                      // no body kept
  EXPECT_FALSE(chatLogEntry(chatRecord(R"({"messages":[{"ro)", "")).has_value());  // cut
  EXPECT_FALSE(chatLogEntry(chatRecord(R"({"input":"x"})", "")).has_value());
  fwd::v1::Record embedding = chatRecord(R"({"messages":[]})", "{}");
  embedding.set_path("/v1/embeddings");
  EXPECT_FALSE(chatLogEntry(embedding).has_value());
}

class CliChatLogTest : public testing::MockedCliTest {};

TEST_F(CliChatLogTest, ConvertPagesRecordsWithBodiesIntoOneJsonArray) {
  ::testing::InSequence in_order;
  EXPECT_CALL(mock_, listRecords(_)).WillOnce([](const fwd::v1::ListRecordsRequest& req) {
    EXPECT_EQ(req.order(), fwd::v1::RECORD_ORDER_OLDEST_FIRST);
    EXPECT_TRUE(req.include_bodies());
    EXPECT_EQ(req.limit(), 100u);
    EXPECT_EQ(req.filter().key(), "alice");
    fwd::v1::ListRecordsResponse r;
    *r.add_records() = chatRecord(R"({"messages":[{"role":"user","content":"a"}]})", kStream);
    *r.add_records() = chatRecord("", "");  // no body: left out
    r.set_next_page_token("t:1");
    return r;
  });
  EXPECT_CALL(mock_, listRecords(_)).WillOnce([](const fwd::v1::ListRecordsRequest& req) {
    EXPECT_EQ(req.page_token(), "t:1");
    fwd::v1::ListRecordsResponse r;
    *r.add_records() = chatRecord(R"({"messages":[{"role":"user","content":"b"}]})",
                                  R"({"choices":[{"index":0,"message":{"content":"B"}}]})");
    return r;
  });
  testing::CliResult out = run({"logs", "convert", "--key", "alice"});
  ASSERT_EQ(out.exit_code, kExitOk) << out.err;
  Json log = Json::parse(out.out);
  ASSERT_EQ(log.size(), 2u) << out.out;
  EXPECT_EQ(log[0]["messages"][0]["content"], "a");
  EXPECT_EQ(log[0]["assistant"], "Hello\n");
  EXPECT_EQ(log[1]["assistant"], "B");
}

TEST_F(CliChatLogTest, ConvertWithNothingToConvertIsAnEmptyArray) {
  EXPECT_CALL(mock_, listRecords(_)).WillOnce([](const fwd::v1::ListRecordsRequest&) {
    return fwd::v1::ListRecordsResponse();
  });
  testing::CliResult out = run({"logs", "convert"});
  ASSERT_EQ(out.exit_code, kExitOk) << out.err;
  EXPECT_EQ(Json::parse(out.out), Json::array());
}

TEST_F(CliChatLogTest, LogsWithBodiesAskForThemAndShowThem) {
  EXPECT_CALL(mock_, listRecords(_)).WillOnce([](const fwd::v1::ListRecordsRequest& req) {
    EXPECT_TRUE(req.include_bodies());
    EXPECT_EQ(req.limit(), 20u);
    fwd::v1::ListRecordsResponse r;
    *r.add_records() = chatRecord("{\"messages\":[]}", "bad \xff byte");
    return r;
  });
  testing::CliResult out = run({"logs", "--bodies", "--limit", "20", "-o", "json"});
  ASSERT_EQ(out.exit_code, kExitOk) << out.err;
  Json logs = Json::parse(out.out);
  EXPECT_EQ(logs["records"][0]["request_body"], "{\"messages\":[]}");
  EXPECT_EQ(logs["records"][0]["response_body"], "bad \xef\xbf\xbd byte");  // U+FFFD
}

TEST_F(CliChatLogTest, RecordsWithoutBodiesHaveNoBodyFieldsAndCsvNeverHasThem) {
  fwd::v1::Record r = chatRecord("", "");
  EXPECT_FALSE(recordJson(r).contains("request_body"));
  r.set_request_body("{\"a\":1}");
  EXPECT_EQ(recordJson(r)["request_body"], "{\"a\":1}");
  EXPECT_EQ(recordCsv(r), recordCsv(chatRecord("", "")));
}

TEST(CliChatLogFlagsTest, BodiesFlagsAreBounded) {
  testing::expectUsageErrors({
      {{"logs", "--bodies", "--limit", "101"}, "--limit must be 1 to 100 with --bodies"},
      {{"logs", "export", "--bodies", "--format", "csv"}, "--bodies is for --format jsonl"},
      {{"logs", "convert", "--limit", "5"},
       "unknown flag --limit for \"logs convert\" (see fwdctl logs --help)"},
  });
}

}  // namespace chat_log_test
}  // namespace fwd::cli::commands
