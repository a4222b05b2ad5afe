// `fwdctl usage`: the filter and grouping it sends, its table and JSON, and usage errors for
// flags that do not parse.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "cli/commands/records.h"
#include "cli/commands/run.h"
#include "tests/unit/cli/cli_test_util.h"
#include "tests/unit/cli/mock_admin_api.h"

namespace fwd::cli::commands {
namespace usage_test {

using ::testing::_;
using testing::MockAdminApi;
using ::testing::StrictMock;

class CliUsageTest : public testing::MockedCliTest {};

fwd::v1::GetUsageResponse twoModels() {
  fwd::v1::GetUsageResponse r;
  fwd::v1::UsageRow* a = r.add_rows();
  a->set_group("gpt-4o");
  a->set_requests(120);
  a->set_errors(3);
  a->set_prompt_tokens(50000);
  a->set_completion_tokens(12000);
  a->set_cached_tokens(8000);
  a->set_cost_nano_usd(245'000'000'001);  // $245.000000001: shown rounded up
  fwd::v1::UsageRow* b = r.add_rows();
  b->set_group("llama3");
  b->set_requests(40);
  b->set_prompt_tokens(900);
  b->set_completion_tokens(100);
  b->set_unpriced_requests(40);
  return r;
}

TEST_F(CliUsageTest, SendsTheFilterAndGroupingAndRendersATable) {
  EXPECT_CALL(mock_, getUsage(_)).WillOnce([](const fwd::v1::GetUsageRequest& r) {
    EXPECT_EQ(r.group_by(), "model");
    EXPECT_EQ(r.filter().key(), "alice");
    EXPECT_EQ(r.filter().upstream(), "openai");
    EXPECT_EQ(r.filter().status_class(), 5);
    EXPECT_EQ(r.filter().from().seconds(), 1'796'083'200);  // 2026-12-01T00:00:00Z
    EXPECT_EQ(r.filter().to().seconds(), 1'796'094'000);    // 2026-12-01T03:00:00Z
    return twoModels();
  });
  testing::CliResult r =
      run({"usage", "--key", "alice", "--upstream", "openai", "--status", "5XX", "--from",
           "2026-12-01", "--to", "2026-12-01T03:00:00Z", "--by", "model"});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "MODEL   REQUESTS  ERRORS  PROMPT  COMPLETION  CACHED  COST         UNPRICED\n"
            "gpt-4o  120       3       50000   12000       8000    $245.000001  0\n"
            "llama3  40        0       900     100         0       $0.00        40\n");
}

TEST_F(CliUsageTest, SinceCountsBackFromNowAndJsonIsStable) {
  const auto before = std::chrono::system_clock::now();
  EXPECT_CALL(mock_, getUsage(_)).WillOnce([&](const fwd::v1::GetUsageRequest& r) {
    EXPECT_EQ(r.group_by(), "");
    std::int64_t from = r.filter().from().seconds();
    std::int64_t expected =
        std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count() -
        24 * 3600;
    EXPECT_GE(from, expected - 1);
    EXPECT_LE(from, expected + 5);
    EXPECT_FALSE(r.filter().has_to());
    fwd::v1::GetUsageResponse one;
    *one.add_rows() = twoModels().rows(1);
    one.mutable_rows(0)->set_group("");
    return one;
  });
  testing::CliResult r = run({"usage", "--since", "24h", "-o", "json"});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_EQ(Json::parse(r.out).dump(),
            R"({"group_by":null,"rows":[{"group":"","requests":40,"errors":0,)"
            R"("prompt_tokens":900,"completion_tokens":100,"cached_tokens":0,"cost_usd":0.0,)"
            R"("cost_nano_usd":0,"unpriced_requests":40}]})");
  EXPECT_EQ(usageReportText("", fwd::v1::GetUsageResponse()), "no records match\n");
}

TEST_F(CliUsageTest, LogsListsTheNewestRecordsWithTheSameFilters) {
  fwd::v1::ListRecordsResponse records;
  fwd::v1::Record* r = records.add_records();
  r->set_id("r2");
  r->mutable_time()->set_seconds(1'796'085'000);  // 2026-12-01T00:30:00Z
  r->set_key_name("alice");
  r->set_model("gpt-4o");
  r->set_upstream("openai");
  r->set_status(200);
  r->set_latency_us(812'345);
  r->set_prompt_tokens(10);
  r->set_completion_tokens(5);
  r->set_cost_nano_usd(75'000);
  r->set_priced(true);
  r->set_request_id("req_abc");
  r->set_outcome(fwd::v1::OUTCOME_OK);
  fwd::v1::Record* s = records.add_records();
  s->set_id("r1");
  s->mutable_time()->set_seconds(1'796'084'000);
  s->set_key_name("bob");
  s->set_model("llama3");
  s->set_status(502);
  s->set_latency_us(1500);
  s->set_usage_estimated(true);
  s->set_outcome(fwd::v1::OUTCOME_ERROR);
  fwd::v1::FailedAttempt* f = s->add_failed_attempts();
  f->set_upstream("east");
  f->set_reason("http_5xx");
  f->set_status(503);
  EXPECT_CALL(mock_, listRecords(_)).WillOnce([&](const fwd::v1::ListRecordsRequest& req) {
    EXPECT_EQ(req.limit(), 2u);
    EXPECT_EQ(req.filter().status_class(), 0);
    EXPECT_TRUE(req.filter().has_from());
    return records;
  });
  testing::CliResult out = run({"logs", "--since", "1h", "--limit", "2"});
  EXPECT_EQ(out.exit_code, kExitOk) << out.err;
  EXPECT_EQ(out.out,
            "TIME                  KEY    MODEL   UPSTREAM  STATUS  LATENCY  TOKENS  COST       "
            "REQUEST_ID\n"
            "2026-12-01T00:30:00Z  alice  gpt-4o  openai    200     812.3ms  10+5    $0.000075  "
            "req_abc\n"
            "2026-12-01T00:13:20Z  bob    llama3  -         502     1.5ms    0+0~    unpriced   "
            "-\n");
  Json j = logsJson(records);
  EXPECT_EQ(j["records"][0]["latency_ms"], 812.345);
  EXPECT_EQ(j["records"][0]["outcome"], "ok");
  EXPECT_EQ(j["records"][1]["outcome"], "error");
  EXPECT_EQ(j["records"][1]["time"], "2026-12-01T00:13:20Z");
  EXPECT_EQ(j["records"][0]["failed_attempts"], Json::array());
  EXPECT_EQ(j["records"][1]["failed_attempts"],
            Json::parse(R"([{"upstream":"east","reason":"http_5xx","status":503}])"));
  std::vector<std::string> keys;
  for (const auto& [k, v] : j["records"][0].items()) {
    keys.push_back(k);
  }
  // The stable order scripts rely on.
  EXPECT_EQ(keys, (std::vector<std::string>{"time",
                                            "id",
                                            "request_id",
                                            "node_id",
                                            "key",
                                            "client_ip",
                                            "method",
                                            "path",
                                            "route",
                                            "model",
                                            "served_model",
                                            "upstream",
                                            "status",
                                            "error_code",
                                            "attempts",
                                            "failed_attempts",
                                            "stream",
                                            "ttfb_ms",
                                            "latency_ms",
                                            "overhead_ms",
                                            "prompt_tokens",
                                            "completion_tokens",
                                            "cached_tokens",
                                            "reasoning_tokens",
                                            "usage_estimated",
                                            "cost_nano_usd",
                                            "priced",
                                            "tool_calls",
                                            "multimodal",
                                            "bytes_in",
                                            "bytes_out",
                                            "outcome"}));
  EXPECT_EQ(logsText(fwd::v1::ListRecordsResponse()), "no records match\n");
}

fwd::v1::Record shortRecord(const std::string& id, int status) {
  fwd::v1::Record r;
  r.set_id(id);
  r.mutable_time()->set_seconds(1'796'085'000);  // 2026-12-01T00:30:00Z
  r.set_key_name("alice");
  r.set_model("gpt-4o");
  r.set_status(status);
  r.set_latency_us(2000);
  r.set_outcome(status < 400 ? fwd::v1::OUTCOME_OK : fwd::v1::OUTCOME_ERROR);
  return r;
}

TEST_F(CliUsageTest, FollowAsksFromWhereTheLastAnswerEndedUntilACallFails) {
  ::testing::InSequence in_order;
  EXPECT_CALL(mock_, listRecords(_)).WillOnce([](const fwd::v1::ListRecordsRequest& req) {
    EXPECT_EQ(req.order(), fwd::v1::RECORD_ORDER_ARRIVAL);
    EXPECT_EQ(req.page_token(), "");
    EXPECT_EQ(req.limit(), 2u);
    EXPECT_EQ(req.filter().key(), "alice");
    fwd::v1::ListRecordsResponse r;
    *r.add_records() = shortRecord("r1", 200);
    r.set_next_page_token("p1");
    return r;
  });
  EXPECT_CALL(mock_, listRecords(_)).WillOnce([](const fwd::v1::ListRecordsRequest& req) {
    EXPECT_EQ(req.page_token(), "p1");
    EXPECT_EQ(req.limit(), 1000u);
    EXPECT_EQ(req.filter().key(), "alice");
    fwd::v1::ListRecordsResponse r;
    *r.add_records() = shortRecord("r2", 502);
    r.set_next_page_token("p2");
    return r;
  });
  EXPECT_CALL(mock_, listRecords(_)).WillOnce([](const fwd::v1::ListRecordsRequest& req) {
    EXPECT_EQ(req.page_token(), "p2");
    return absl::UnavailableError("control plane went away");
  });
  testing::CliResult out =
      run({"logs", "--follow", "--key", "alice", "--limit", "2", "--interval", "10ms"});
  EXPECT_NE(out.exit_code, kExitOk);
  EXPECT_THAT(out.err, ::testing::HasSubstr("control plane went away"));
  EXPECT_EQ(out.out,
            "TIME  KEY  MODEL  UPSTREAM  STATUS  LATENCY  TOKENS  COST  REQUEST_ID\n"
            "2026-12-01T00:30:00Z  alice  gpt-4o  -  200  2.0ms  0+0  unpriced  -\n"
            "2026-12-01T00:30:00Z  alice  gpt-4o  -  502  2.0ms  0+0  unpriced  -\n");
}

TEST_F(CliUsageTest, FollowWithJsonWritesARecordPerLine) {
  ::testing::InSequence in_order;
  EXPECT_CALL(mock_, listRecords(_)).WillOnce([](const fwd::v1::ListRecordsRequest&) {
    fwd::v1::ListRecordsResponse r;
    *r.add_records() = shortRecord("r1", 200);
    *r.add_records() = shortRecord("r2", 200);
    r.set_next_page_token("p1");
    return r;
  });
  EXPECT_CALL(mock_, listRecords(_)).WillOnce([](const fwd::v1::ListRecordsRequest& req) {
    EXPECT_EQ(req.page_token(), "p1");
    return absl::UnavailableError("gone");
  });
  testing::CliResult out = run({"-o", "json", "logs", "--follow", "--interval", "10ms"});
  std::vector<std::string> lines = absl::StrSplit(out.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << out.out;
  EXPECT_EQ(Json::parse(lines[0]), recordJson(shortRecord("r1", 200)));
  EXPECT_EQ(Json::parse(lines[1])["id"], "r2");
}

void expectExportPages(StrictMock<MockAdminApi>& mock) {
  ::testing::InSequence in_order;
  EXPECT_CALL(mock, listRecords(_)).WillOnce([](const fwd::v1::ListRecordsRequest& req) {
    EXPECT_EQ(req.order(), fwd::v1::RECORD_ORDER_OLDEST_FIRST);
    EXPECT_EQ(req.limit(), 1000u);
    EXPECT_EQ(req.page_token(), "");
    EXPECT_EQ(req.filter().status_class(), 5);
    fwd::v1::ListRecordsResponse r;
    fwd::v1::Record rec = shortRecord("r1", 502);
    rec.set_model("a \"quoted\", model\nname");  // a client's model, whatever it holds
    fwd::v1::FailedAttempt* f = rec.add_failed_attempts();
    f->set_upstream("east");
    f->set_reason("http_5xx");
    f->set_status(503);
    *r.add_records() = rec;
    r.set_next_page_token("t:1");
    return r;
  });
  EXPECT_CALL(mock, listRecords(_)).WillOnce([](const fwd::v1::ListRecordsRequest& req) {
    EXPECT_EQ(req.page_token(), "t:1");
    fwd::v1::ListRecordsResponse r;
    *r.add_records() = shortRecord("r2", 500);
    return r;  // no token: the last page
  });
}

TEST_F(CliUsageTest, ExportPagesOldestFirstAsJsonLines) {
  expectExportPages(mock_);
  testing::CliResult out = run({"logs", "export", "--status", "5xx"});
  ASSERT_EQ(out.exit_code, kExitOk) << out.err;
  std::vector<std::string> lines = absl::StrSplit(out.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(Json::parse(lines[0])["model"], "a \"quoted\", model\nname");
  EXPECT_EQ(Json::parse(lines[0])["failed_attempts"][0]["status"], 503);
  EXPECT_EQ(Json::parse(lines[1])["id"], "r2");
}

TEST_F(CliUsageTest, ExportAsCsvQuotesWhatNeedsIt) {
  expectExportPages(mock_);
  testing::CliResult out = run({"logs", "export", "--status", "5xx", "--format", "csv"});
  ASSERT_EQ(out.exit_code, kExitOk) << out.err;
  std::vector<std::string> rows = absl::StrSplit(out.out, "\r\n", absl::SkipEmpty());
  ASSERT_EQ(rows.size(), 3u) << out.out;
  EXPECT_TRUE(rows[0].starts_with("time,id,request_id,node_id,key,client_ip,method,path,"))
      << rows[0];
  EXPECT_TRUE(rows[0].ends_with(",bytes_in,bytes_out,outcome")) << rows[0];
  EXPECT_EQ(rows[1],
            "2026-12-01T00:30:00Z,r1,,,alice,,,,,\"a \"\"quoted\"\", model\nname\",,,502,,0,"
            "east:http_5xx:503,false,0.0,2.0,0.0,0,0,0,0,false,0,false,false,false,0,0,error");
  EXPECT_TRUE(rows[2].starts_with("2026-12-01T00:30:00Z,r2,")) << rows[2];
}

TEST(CliUsageFlagsTest, BadFlagsAreUsageErrors) {
  testing::expectUsageErrors({
      {{"usage", "--by", "week"}, "--by \"week\": use key, model, upstream, day or hour"},
      {{"usage", "--status", "6xx"}, "--status \"6xx\": use 2xx, 3xx, 4xx or 5xx"},
      {{"usage", "--from", "yesterday"},
       "--from \"yesterday\": not a time; use 2026-12-01 or 2026-12-01T10:00:00Z"},
      {{"usage", "--since", "1h", "--from", "2026-12-01"},
       "--since cannot be used with --from or --to"},
      {{"logs", "--limit", "0"}, "--limit must be 1 to 10000, got 0"},
      {{"logs", "--status", "200"}, "--status \"200\": use 2xx, 3xx, 4xx or 5xx"},
      {{"logs", "--interval", "1s"}, "--interval is for --follow"},
      {{"logs", "--follow", "--interval", "0s"}, "--interval must be more than 0"},
      {{"logs", "export", "--format", "xml"}, "--format \"xml\": use jsonl or csv"},
      {{"logs", "export", "--limit", "5"},
       "unknown flag --limit for \"logs export\" (see fwdctl logs --help)"},
  });
}

}  // namespace usage_test
}  // namespace fwd::cli::commands
