// Request records with the real binaries: every request a data plane serves reaches the control
// plane's records database with its key, model, upstream, status, usage (reported, streamed, or
// estimated and flagged), attempts and outcome; `fwdctl logs` and `fwdctl usage` read them; the
// client gets the record's id as x-request-id when the upstream sent none; records made while
// the control plane is down arrive once it is back, each once; with --records off none is sent.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace records_test {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kChat[] = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
constexpr char kStreamWithUsage[] =
    R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]})";
constexpr char kStreamWithoutUsage[] = R"({"model":"gpt-4o","stream":true,"messages":[]})";

class RecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    ASSERT_TRUE(cluster_.fwdctlInSync({"upstream", "add", "local", "--base-url",
                                       cluster_.upstream("up1").baseUrl(), "--model", "gpt-*"}));
    key_ = cluster_.createKeyInSync("team-a", {});
  }

  // The newest records, newest first, once there are `n` of them.
  Json waitRecords(size_t n, std::chrono::milliseconds within = 15s) {
    Json records;
    EXPECT_TRUE(waitFor(
        [&] {
          CommandResult r = cluster_.fwdctl({"-o", "json", "logs", "--limit", "100"});
          Json j = Json::parse(r.stdout_text, nullptr, false);
          if (r.exit_code != 0 || !j.is_object()) {
            return false;
          }
          records = j["records"];
          return records.size() >= n;
        },
        within, std::to_string(n) + " records"));
    EXPECT_EQ(records.size(), n) << records.dump(2);
    return records;
  }

  // The record whose request_id is `id`, or null.
  static Json byRequestId(const Json& records, const std::string& id) {
    for (const Json& r : records) {
      if (r["request_id"] == id) {
        return r;
      }
    }
    return Json();
  }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(RecordsTest, EveryRequestIsRecordedWithItsUsageAndOutcome) {
  // $2.50 per million prompt tokens, $10 per million completion tokens.
  ASSERT_TRUE(
      cluster_.fwdctlInSync({"price", "set", "gpt-4o", "--input", "2.50", "--output", "10"}));
  Response chat = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kChat);
  ASSERT_EQ(chat.status, 200) << chat.body;
  Response with = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kStreamWithUsage);
  ASSERT_EQ(with.status, 200);
  Response without =
      cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kStreamWithoutUsage);
  ASSERT_EQ(without.status, 200);
  Response failed =
      cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kChat, {{"x-fake-status", "500"}});
  ASSERT_EQ(failed.status, 502) << failed.body;
  Response unknown = cluster_.call("dp1", "POST", "/v1/chat/completions", "sk-wrong", kChat);
  ASSERT_EQ(unknown.status, 401);

  Json records = waitRecords(5);
  // The upstream named its answers (x-request-id: fake-N): the record keeps that id.
  ASSERT_FALSE(chat.header("x-request-id").empty());
  Json c = byRequestId(records, chat.header("x-request-id"));
  ASSERT_TRUE(c.is_object()) << records.dump(2);
  EXPECT_EQ(c["key"], "team-a");
  EXPECT_EQ(c["node_id"], "dp1");
  EXPECT_EQ(c["client_ip"], "127.0.0.1");
  EXPECT_EQ(c["method"], "POST");
  EXPECT_EQ(c["path"], "/v1/chat/completions");
  EXPECT_EQ(c["model"], "gpt-4o");
  EXPECT_EQ(c["upstream"], "local");
  EXPECT_EQ(c["status"], 200);
  EXPECT_EQ(c["attempts"], 1);
  EXPECT_EQ(c["stream"], false);
  EXPECT_EQ(c["prompt_tokens"], 10);
  EXPECT_EQ(c["completion_tokens"], 3);
  EXPECT_EQ(c["usage_estimated"], false);
  EXPECT_EQ(c["priced"], true);
  EXPECT_EQ(c["cost_nano_usd"], 10 * 2500 + 3 * 10000);
  EXPECT_EQ(c["outcome"], "ok");
  EXPECT_EQ(c["bytes_in"], std::string(kChat).size());
  EXPECT_EQ(c["bytes_out"], chat.body.size());
  EXPECT_GT(c["latency_ms"].get<double>(), 0);
  EXPECT_GE(c["latency_ms"].get<double>(), c["overhead_ms"].get<double>());
  EXPECT_NE(c["id"], c["request_id"]);

  Json s = byRequestId(records, with.header("x-request-id"));
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["stream"], true);
  EXPECT_EQ(s["prompt_tokens"], 10);
  EXPECT_EQ(s["completion_tokens"], 5);  // the fake's 5 chunks, as its usage chunk says
  EXPECT_EQ(s["usage_estimated"], false);
  EXPECT_GT(s["ttfb_ms"].get<double>(), 0);

  Json e = byRequestId(records, without.header("x-request-id"));
  ASSERT_TRUE(e.is_object());
  EXPECT_EQ(e["usage_estimated"], true);
  EXPECT_EQ(e["completion_tokens"], 5);  // one per content chunk
  EXPECT_EQ(e["prompt_tokens"], (std::string(kStreamWithoutUsage).size() + 3) / 4);

  // fwd answered these itself: the client got the record's own id.
  ASSERT_EQ(failed.header("x-request-id").size(), 32u) << failed.body;
  Json f = byRequestId(records, failed.header("x-request-id"));
  ASSERT_TRUE(f.is_object()) << records.dump(2);
  EXPECT_EQ(f["id"], f["request_id"]);
  EXPECT_EQ(f["status"], 502);
  EXPECT_EQ(f["error_code"], "upstream_error");
  EXPECT_EQ(f["outcome"], "error");
  ASSERT_EQ(f["failed_attempts"].size(), 1u);
  EXPECT_EQ(f["failed_attempts"][0]["upstream"], "local");
  EXPECT_EQ(f["failed_attempts"][0]["status"], 500);
  EXPECT_EQ(f["prompt_tokens"], 0);
  Json u = byRequestId(records, unknown.header("x-request-id"));
  ASSERT_TRUE(u.is_object()) << records.dump(2);
  EXPECT_EQ(u["status"], 401);
  EXPECT_EQ(u["key"], "");
  EXPECT_EQ(u["error_code"], "invalid_api_key");

  Json usage = cluster_.fwdctlJson({"usage", "--key", "team-a"});
  ASSERT_EQ(usage["rows"].size(), 1u) << usage.dump();
  EXPECT_EQ(usage["rows"][0]["requests"], 4);
  EXPECT_EQ(usage["rows"][0]["errors"], 1);
  EXPECT_EQ(usage["rows"][0]["completion_tokens"], 3 + 5 + 5);

  std::string metrics = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics").body;
  EXPECT_EQ(metricValue(metrics, "fwd_records_sent_total"), 5) << metrics;
  EXPECT_EQ(metricValue(metrics, "fwd_records_spilled_total"), 0);
  // Tokens and cost in Prometheus, by model and upstream (no key label).
  const std::string labels = R"({model="gpt-4o",upstream="local",kind=")";
  std::uint64_t estimated_prompt = (std::string(kStreamWithoutUsage).size() + 3) / 4;
  EXPECT_EQ(metricValue(metrics, "fwd_tokens_total" + labels + R"(prompt"})"),
            10 + 10 + estimated_prompt);
  EXPECT_EQ(metricValue(metrics, "fwd_tokens_total" + labels + R"(completion"})"), 3 + 5 + 5);
  EXPECT_EQ(metricValue(metrics,
                        R"(fwd_usage_estimated_requests_total{model="gpt-4o",upstream="local"})"),
            1);
  double dollars = ((10 + 10 + estimated_prompt) * 2.5 + (3 + 5 + 5) * 10.0) / 1e6;
  EXPECT_NEAR(metricValue(metrics, R"(fwd_cost_usd_total{model="gpt-4o",upstream="local"})"),
              dollars, 1e-9);
}

TEST_F(RecordsTest, RecordsMadeWhileTheControlPlaneIsDownArriveOnceItIsBack) {
  ASSERT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kChat).status, 200);
  waitRecords(1);
  cluster_.killControlPlane();
  // The data plane serves on from its config; its records wait in the spill file.
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kChat).status, 200);
  }
  ASSERT_TRUE(waitFor(
      [&] {
        std::string m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics").body;
        return metricValue(m, "fwd_records_spilled_total") == 20;
      },
      15s, "20 records spilled"));
  ASSERT_TRUE(cluster_.restartControlPlaneOnSamePort());
  Json records = waitRecords(21, 20s);
  std::set<std::string> ids;
  for (const Json& r : records) {
    ids.insert(r["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 21u);
  Json usage = cluster_.fwdctlJson({"usage"});
  EXPECT_EQ(usage["rows"][0]["requests"], 21);
  EXPECT_EQ(usage["rows"][0]["completion_tokens"], 21 * 3);
  ASSERT_TRUE(waitFor(
      [&] {
        std::string m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics").body;
        return metricValue(m, "fwd_records_spill_bytes") == 0;
      },
      15s, "an empty spill file"));
}

// The lines of `text` that are JSON objects.
std::vector<Json> jsonLines(const std::string& text) {
  std::vector<Json> out;
  size_t at = 0;
  for (size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
    Json j = Json::parse(text.substr(at, nl - at), nullptr, false);
    EXPECT_TRUE(j.is_object()) << text.substr(at, nl - at);
    out.push_back(std::move(j));
  }
  return out;
}

TEST_F(RecordsTest, FollowPrintsNewRecordsAsTheyComeAndExportWritesEveryOne) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kChat).status, 200);
  }
  waitRecords(3);
  ChildProcess follow;
  ASSERT_TRUE(follow.start(
      FWDCTL_BIN, {"--server", cluster_.controlPlaneAddress(), "--token", cluster_.adminToken(),
                   "-o", "json", "logs", "--follow", "--limit", "2", "--interval", "100ms"}));
  ASSERT_TRUE(waitFor([&] { return jsonLines(follow.stdoutText()).size() == 2; }, 10s,
                      "the newest two records"));
  Response failed =
      cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kChat, {{"x-fake-status", "500"}});
  ASSERT_EQ(failed.status, 502);
  Response ok = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kChat);
  ASSERT_EQ(ok.status, 200);
  ASSERT_TRUE(waitFor([&] { return jsonLines(follow.stdoutText()).size() >= 4; }, 15s,
                      "the two new records followed"));
  std::this_thread::sleep_for(300ms);  // a few more polls: nothing is printed twice
  std::vector<Json> followed = jsonLines(follow.stdoutText());
  ASSERT_EQ(followed.size(), 4u) << follow.stdoutText();
  std::set<std::string> new_ids = {followed[2]["request_id"], followed[3]["request_id"]};
  EXPECT_EQ(new_ids,
            (std::set<std::string>{failed.header("x-request-id"), ok.header("x-request-id")}));
  EXPECT_TRUE(follow.running());
  follow.stop(SIGINT);

  // Export: all five, oldest first, as JSON lines and as CSV; filters apply.
  CommandResult jsonl = cluster_.fwdctl({"logs", "export"});
  ASSERT_EQ(jsonl.exit_code, 0) << jsonl.stderr_text;
  std::vector<Json> all = jsonLines(jsonl.stdout_text);
  ASSERT_EQ(all.size(), 5u) << jsonl.stdout_text;
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_LE(all[i - 1]["time"].get<std::string>(), all[i]["time"].get<std::string>());
  }
  EXPECT_EQ((std::set<std::string>{all[3]["request_id"], all[4]["request_id"]}), new_ids);
  CommandResult errors = cluster_.fwdctl({"logs", "export", "--status", "5xx"});
  ASSERT_EQ(errors.exit_code, 0) << errors.stderr_text;
  std::vector<Json> five_xx = jsonLines(errors.stdout_text);
  ASSERT_EQ(five_xx.size(), 1u);
  EXPECT_EQ(five_xx[0]["request_id"], failed.header("x-request-id"));
  EXPECT_EQ(five_xx[0]["status"], 502);
  CommandResult csv = cluster_.fwdctl({"logs", "export", "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.stderr_text;
  size_t rows = 0;
  for (size_t at = 0; (at = csv.stdout_text.find("\r\n", at)) != std::string::npos; at += 2) {
    ++rows;
  }
  EXPECT_EQ(rows, 6u) << csv.stdout_text;
  EXPECT_TRUE(csv.stdout_text.starts_with("time,id,request_id,node_id,key,")) << csv.stdout_text;
  EXPECT_NE(csv.stdout_text.find("," + failed.header("x-request-id") + ",dp1,team-a,"),
            std::string::npos)
      << csv.stdout_text;
}

TEST(RecordsFlagsTest, BadRecordsFlagsExitTwoNamingTheFlag) {
  for (const auto& [args, named] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--records", "bogus"}, "--records must be central or off, got \"bogus\""},
           {{"--records-queue", "3"}, "--records-queue"},
           {{"--records-queue", "many"}, "--records-queue"},
           {{"--records-spill-max-bytes", "-1"}, "--records-spill-max-bytes"},
           {{"--records-spill-max-bytes"}, "--records-spill-max-bytes"}}) {
    CommandResult r = runCommand(FWD_DATAPLANE_BIN, args, {}, 10s);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(named), std::string::npos) << r.stderr_text;
    EXPECT_EQ(r.stdout_text, "");
  }
}

TEST_F(RecordsTest, WithRecordsOffNothingIsSentAndNoIdIsAdded) {
  ASSERT_TRUE(cluster_.startDataPlane("quiet", {}, {"--records", "off"}));
  ASSERT_TRUE(cluster_.waitInSync());
  Response r = cluster_.call("quiet", "POST", "/v1/chat/completions", key_, kChat,
                             {{"x-fake-status", "500"}});
  ASSERT_EQ(r.status, 502);
  EXPECT_FALSE(r.hasHeader("x-request-id"));
  ASSERT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kChat).status, 200);
  Json records = waitRecords(1);
  EXPECT_EQ(records[0]["node_id"], "dp1");
  std::string m = httpRequest(cluster_.dataPlane("quiet").admin, "GET", "/metrics").body;
  EXPECT_EQ(m.find("fwd_records_sent_total"), std::string::npos);
}

TEST_F(RecordsTest, TokensAreCountedByKeyOnlyWithMetricsKeyLabel) {
  ASSERT_TRUE(cluster_.startDataPlane("keyed", {}, {"--metrics-key-label"}));
  ASSERT_TRUE(cluster_.waitInSync());
  ASSERT_EQ(cluster_.call("keyed", "POST", "/v1/chat/completions", key_, kChat).status, 200);
  ASSERT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kChat).status, 200);
  auto metrics = [&](const std::string& node) {
    return httpRequest(cluster_.dataPlane(node).admin, "GET", "/metrics").body;
  };
  // Counted when the request finishes, just after the client has its answer.
  EXPECT_TRUE(waitFor(
      [&] {
        return metricValue(
                   metrics("keyed"),
                   R"(fwd_tokens_total{key="team-a",model="gpt-4o",upstream="local",kind="prompt"})") >
                   0 &&
               metricValue(metrics("dp1"),
                           R"(fwd_tokens_total{model="gpt-4o",upstream="local",kind="prompt"})") >
                   0;
      },
      5s, "the tokens of both requests"));
  EXPECT_GT(metricValue(
                metrics("keyed"),
                R"(fwd_tokens_total{key="team-a",model="gpt-4o",upstream="local",kind="prompt"})"),
            0)
      << metrics("keyed");
  EXPECT_GT(metricValue(metrics("dp1"),
                        R"(fwd_tokens_total{model="gpt-4o",upstream="local",kind="prompt"})"),
            0);
  EXPECT_EQ(metrics("dp1").find("key=\"team-a\""), std::string::npos);
}

}  // namespace records_test
}  // namespace fwd::harness
